import { describe, expect, it } from 'vitest';

import {
  appendCovering,
  AuditBatcher,
  AuditError,
  MAX_EVENT_IDS,
  type AuditSink,
  type DisclosureRecord,
} from '../src/index.js';
import { auditTestBed, entriesOf, openLog, readAll } from './support.js';

const record = (eventId: string, over: Partial<DisclosureRecord> = {}): DisclosureRecord => ({
  recipient: 'RS',
  agreementId: 'MK-RS-1',
  eventId,
  eventType: 'crossing.irregular',
  paths: ['persons.citizenship', 'routeSegment'],
  mode: 'records',
  ...over,
});

/** A sink that keeps what it is given and fails when told to. */
function sink(fail = false): AuditSink & { appended: DisclosureRecord[] } {
  const appended: DisclosureRecord[] = [];
  return {
    appended,
    append(r) {
      appended.push(r);
      return fail ? Promise.reject(new Error('stream unavailable')) : Promise.resolve();
    },
  };
}

const ids = (n: number, prefix = 'e'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('AuditBatcher', () => {
  it('lists the disclosures of one turn with the same recipient, agreement, type and paths in one entry', async () => {
    const s = sink();
    const b = new AuditBatcher(s, { prefix: 'share' });
    await Promise.all([
      b.append(record('e1')),
      b.append(record('e2')),
      b.append(record('e3', { eventType: 'smuggling.incident' })),
      b.append(record('e4', { paths: ['routeSegment'] })),
      b.append(record('e5', { recipient: 'AL', agreementId: 'MK-AL-1' })),
      b.append(record('e2')), // a redelivery in the same turn is listed once
    ]);
    expect(s.appended).toHaveLength(4);
    const grouped = s.appended[0]!;
    expect(grouped.eventIds).toEqual(['e1', 'e2']);
    expect(grouped.eventId).toMatch(/^share-[0-9a-f-]{36}$/);
    // A lone disclosure stays an entry of its own, named by its event.
    expect(s.appended.slice(1).map((r) => [r.eventId, r.eventIds])).toEqual([
      ['e3', undefined],
      ['e4', undefined],
      ['e5', undefined],
    ]);
  });

  it('lists the disclosures that come while an entry is being stored in one next entry (group commit)', async () => {
    const appended: DisclosureRecord[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const b = new AuditBatcher({
      append(r) {
        appended.push(r);
        return appended.length === 1 ? held : Promise.resolve();
      },
    });
    const first = b.append(record('e1'));
    await new Promise((r) => setImmediate(r));
    expect(appended.map((r) => r.eventId)).toEqual(['e1']);
    // Over several turns while e1's entry is not stored yet: nothing is written, and nothing resolves.
    const later: Promise<void>[] = [];
    let settled = 0;
    for (const id of ids(3, 'later')) {
      later.push(b.append(record(id)).then(() => void (settled += 1)));
      await new Promise((r) => setImmediate(r));
    }
    expect(appended).toHaveLength(1);
    expect(settled).toBe(0);
    release();
    await Promise.all([first, ...later]);
    expect(appended.map((r) => r.eventIds)).toEqual([undefined, ['later0', 'later1', 'later2']]);
  });

  it('keeps disclosures of another mode, purpose or refusal reason apart', async () => {
    const s = sink();
    const b = new AuditBatcher(s);
    await Promise.all([
      b.append(record('e1')),
      b.append(record('e2', { mode: 'aggregate' })),
      b.append(record('e3', { purpose: 'risk-analysis' })),
      b.append(record('e4', { mode: 'denied', reason: 'PURPOSE_NOT_AGREED' })),
      b.append(record('e5', { mode: 'denied', reason: 'AGREEMENT_NOT_IN_FORCE' })),
    ]);
    expect(s.appended.map((r) => r.eventId)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('starts a new entry at MAX_EVENT_IDS, and the next turn starts afresh', async () => {
    const s = sink();
    const b = new AuditBatcher(s);
    await Promise.all(ids(MAX_EVENT_IDS + 5).map((id) => b.append(record(id))));
    expect(s.appended.map((r) => r.eventIds?.length)).toEqual([MAX_EVENT_IDS, 5]);
    expect(s.appended[0]?.eventId).toMatch(/^batch-/);
    await b.append(record('later'));
    expect(s.appended.at(-1)?.eventId).toBe('later');
  });

  it('fails every disclosure of an entry that could not be stored, so none of their events is acknowledged', async () => {
    const b = new AuditBatcher(sink(true));
    const results = await Promise.allSettled([b.append(record('e1')), b.append(record('e2'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('passes a record that lists its events on as that call’s entries, split at the cap', async () => {
    const s = sink();
    const b = new AuditBatcher(s);
    await b.append(record('query-1', { mode: 'query', eventIds: ids(MAX_EVENT_IDS + 1) }));
    expect(s.appended.map((r) => [r.eventId, r.eventIds?.length])).toEqual([
      ['query-1', MAX_EVENT_IDS],
      ['query-1', 1],
    ]);
  });

  it('reports the failure of the log behind it', () => {
    const failure = new AuditError('CHAIN_BROKEN', 'the chain was purged');
    const b = new AuditBatcher({ append: () => Promise.reject(failure), failure });
    expect(b.failure?.code).toBe('CHAIN_BROKEN');
    expect(new AuditBatcher(sink()).failure).toBeUndefined();
  });
});

describe('appendCovering', () => {
  it('splits a call’s event ids at MAX_EVENT_IDS, in order, every entry named by the call', async () => {
    const s = sink();
    const all = ids(2 * MAX_EVENT_IDS + 3);
    await appendCovering(s, { ...record('match-1', { mode: 'match', paths: [] }), eventIds: all });
    expect(s.appended.map((r) => r.eventId)).toEqual(['match-1', 'match-1', 'match-1']);
    expect(s.appended.flatMap((r) => r.eventIds ?? [])).toEqual(all);
    expect(s.appended.map((r) => r.eventIds?.length)).toEqual([MAX_EVENT_IDS, MAX_EVENT_IDS, 3]);
  });

  it('writes one entry listing no event for a call that disclosed none', async () => {
    const s = sink();
    await appendCovering(s, { ...record('match-2', { mode: 'match', paths: [] }), eventIds: [] });
    expect(s.appended.map((r) => [r.eventId, r.eventIds])).toEqual([['match-2', []]]);
  });

  it('rejects when any of the entries could not be stored', async () => {
    const e = await appendCovering(sink(true), { ...record('q'), eventIds: ids(3) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
  });

  describe('on an AuditLog', () => {
    const { key, nats, verify } = auditTestBed();

    it('stores a call of more than MAX_EVENT_IDS events as several linked entries that verify', async () => {
      const log = await openLog(nats(), key);
      const all = ids(MAX_EVENT_IDS + 10, 'q-');
      await appendCovering(log, {
        ...record('query-7', { mode: 'query', purpose: 'risk-analysis' }),
        eventIds: all,
      });
      await log.close();
      const disclosures = entriesOf(await readAll(nats().jsm)).filter((e) => e.kind === 'disclosure');
      expect(disclosures.map((d) => [d.eventId, d.eventIds?.length])).toEqual([
        ['query-7', MAX_EVENT_IDS],
        ['query-7', 10],
      ]);
      expect(await verify()).toMatchObject({ ok: true, disclosures: 2 });
    });
  });
});
