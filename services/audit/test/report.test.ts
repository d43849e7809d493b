import { describe, expect, it } from 'vitest';

import { auditReport, GENESIS_HASH, type AuditEntry, type DisclosureEntry } from '../src/index.js';

let seq = 0;
function d(
  at: string,
  recipient: string,
  paths: string[],
  extra: Partial<DisclosureEntry> = {},
): DisclosureEntry {
  seq += 1;
  return {
    kind: 'disclosure',
    seq,
    prev: GENESIS_HASH,
    at,
    recipient,
    agreementId: 'agr-mk-rs',
    eventId: `e${seq}`,
    eventType: 'crossing.irregular',
    paths,
    mode: 'records',
    ...extra,
  };
}

const entries: AuditEntry[] = [
  d('2024-03-01T10:00:00.000Z', 'RS', ['persons.citizenship', 'routeSegment']),
  d('2024-03-02T10:00:00.000Z', 'RS', ['routeSegment']),
  d('2024-03-03T10:00:00.000Z', 'RS', ['routeSegment'], { eventType: 'asylum.application' }),
  d('2024-03-01T12:00:00.000Z', 'FRONTEX', ['cells'], { agreementId: 'agr-mk-fx', mode: 'aggregate' }),
  d('2024-03-04T10:00:00.000Z', 'RS', [], { mode: 'denied' }),
  {
    kind: 'checkpoint',
    seq: 6,
    prev: GENESIS_HASH,
    at: '2024-03-04T11:00:00.000Z',
    covers: { from: 1, to: 5 },
    head: GENESIS_HASH,
    kid: 'MK#2024-01-01-1',
    sig: 'A'.repeat(86),
  },
  d('2024-02-28T09:00:00.000Z', 'RS', ['persons.citizenship', 'routeSegment']),
];

describe('auditReport', () => {
  it('groups disclosures by recipient, agreement, type and mode with counts, times and paths', async () => {
    const rows = await auditReport(entries);
    expect(rows.map((r) => [r.recipient, r.agreementId, r.eventType, r.mode, r.count])).toEqual([
      ['FRONTEX', 'agr-mk-fx', 'crossing.irregular', 'aggregate', 1],
      ['RS', 'agr-mk-rs', 'asylum.application', 'records', 1],
      ['RS', 'agr-mk-rs', 'crossing.irregular', 'denied', 1],
      ['RS', 'agr-mk-rs', 'crossing.irregular', 'records', 3],
    ]);
    expect(rows[3]).toMatchObject({
      first: '2024-02-28T09:00:00.000Z',
      last: '2024-03-02T10:00:00.000Z',
      paths: [
        { path: 'persons.citizenship', count: 2 },
        { path: 'routeSegment', count: 3 },
      ],
    });
    expect(rows[2]?.paths).toEqual([]);
  });

  it('filters by recipient and by the half-open interval [from, to)', async () => {
    const rs = await auditReport(entries, { recipient: 'RS' });
    expect(rs.every((r) => r.recipient === 'RS')).toBe(true);
    expect(rs.reduce((n, r) => n + r.count, 0)).toBe(5);
    const march = await auditReport(entries, {
      recipient: 'RS',
      from: new Date('2024-03-01T10:00:00Z'),
      to: new Date('2024-03-03T10:00:00Z'),
    });
    expect(march).toHaveLength(1);
    expect(march[0]).toMatchObject({
      count: 2,
      first: '2024-03-01T10:00:00.000Z',
      last: '2024-03-02T10:00:00.000Z',
    });
    expect(await auditReport(entries, { recipient: 'AL' })).toEqual([]);
  });

  it('reads an async source and skips checkpoints', async () => {
    const source = (async function* () {
      for (const e of entries) yield await Promise.resolve(e);
    })();
    const rows = await auditReport(source);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(6);
  });
});

describe('auditReport with entries that cover many events', () => {
  it('counts each event of a query page, and its paths as often', async () => {
    const page = d('2024-03-05T10:00:00.000Z', 'RS', ['routeSegment'], {
      mode: 'query',
      purpose: 'risk-analysis',
      eventIds: ['e-a', 'e-b', 'e-c'],
    });
    const rows = await auditReport([page]);
    expect(rows).toEqual([
      expect.objectContaining({ mode: 'query', count: 3, paths: [{ path: 'routeSegment', count: 3 }] }),
    ]);
  });
});
