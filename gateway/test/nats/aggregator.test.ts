import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { partnerPolicy, type PolicyEvent } from '@wbx/agreements';
import type { AuditLog } from '@wbx/audit';
import { verifyPresentation } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Aggregator } from '../../src/aggregator.js';
import { shareStream, STATE_BUCKET } from '../../src/nats-layout.js';
import {
  agreement,
  auditEntries,
  messages,
  openAudit,
  partners,
  quiet,
  type Partners,
} from '../support/fixtures.js';

// Weekly counts of smuggling incidents per route segment for AL; cells below 3 are suppressed.
const AL_TERMS = [
  {
    types: ['smuggling.incident'],
    mode: 'aggregate',
    dimensions: ['routeSegment'],
    period: 'week',
    minCell: 3,
    retentionDays: 30,
  },
];
const policy = partnerPolicy('MK', [
  agreement({ id: 'MK-AL-1', provider: 'MK', recipient: 'AL', purposes: ['risk-analysis'], terms: AL_TERMS }),
]);
/** Monday 2023-09-04 (ISO week 36) and the week after. */
const WEEK_36 = Date.parse('2023-09-04T00:00:00Z');
const WEEK_37 = Date.parse('2023-09-11T00:00:00Z');
const WEEK_38 = Date.parse('2023-09-18T00:00:00Z');

let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let state: KV;
let p: Partners;
let audit: AuditLog;

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  state = await new Kvm(js).create(STATE_BUCKET);
  await jsm.streams.add({ name: shareStream('AL'), subjects: ['wbx.share.AL.>'] });
  // Keys valid in 2023, when the aggregates below are sealed.
  p = await partners(['MK', 'AL'], new Date('2023-01-01T00:00:00Z'));
  audit = await openAudit(js, jsm, p);
});

afterEach(async () => {
  await audit.close();
  await nc.close();
  await nats[Symbol.asyncDispose]();
});

/** MK's aggregator; periods close as soon as they end (no grace, no settling). */
const aggregator = (): Aggregator =>
  new Aggregator({
    partner: 'MK',
    js,
    state,
    sealer: p.sealer('MK'),
    audit,
    log: quiet(),
    graceMs: 0,
    settleMs: 0,
  });

/** Counts `n` incidents on `routeSegment` that occurred `hours` into the week starting at `week`. */
function add(to: Aggregator, week: number, routeSegment: string, n: number, hours = 12): void {
  const occurredAt = new Date(week + hours * 3_600_000).toISOString();
  for (let i = 0; i < n; i++) {
    const event: PolicyEvent = {
      type: 'smuggling.incident',
      origin: 'MK',
      claims: { occurredAt, routeSegment },
    };
    for (const g of policy.grants(event, new Date())) to.add(event, g.aggregates);
  }
}

/** The aggregates in AL's share stream, verified against the manifest, oldest first. */
async function shared(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let seq = 1; seq <= (await messages(jsm, shareStream('AL'))); seq++) {
    const m = await jsm.streams.getMessage(shareStream('AL'), { seq });
    expect(m?.subject).toBe('wbx.share.AL.MK.stats.aggregate');
    out.push(verifyPresentation(m!.string(), { manifest: p.manifest, now: new Date(WEEK_38) }).claims);
  }
  return out;
}

describe('Aggregator', () => {
  it('counts per period and cell, suppresses cells below minCell, and publishes closed periods', async () => {
    const agg = aggregator();
    add(agg, WEEK_36, 'GR-MK', 4);
    add(agg, WEEK_36, 'RS-HU', 2);
    add(agg, WEEK_37, 'GR-MK', 3);

    // Week 36 has closed, week 37 has not.
    expect(await agg.flush(new Date(WEEK_37 + 1))).toBe(1);
    expect(await shared()).toMatchObject([
      {
        iss: 'MK',
        wbx_type: 'stats.aggregate',
        period: '2023-W36',
        dimensions: ['routeSegment'],
        cells: [
          { values: ['GR-MK'], count: 4, suppressed: false },
          { values: ['RS-HU'], count: 0, suppressed: true },
        ],
      },
    ]);

    expect(await agg.flush(new Date(WEEK_38 + 1))).toBe(1);
    const [, week37] = await shared();
    expect(week37).toMatchObject({
      period: '2023-W37',
      cells: [{ values: ['GR-MK'], count: 3, suppressed: false }],
    });

    // Each audited before it was published: one entry per aggregate, for AL under MK-AL-1.
    const disclosures = (await auditEntries(jsm)).filter((e) => e.kind === 'disclosure');
    expect(disclosures).toHaveLength(2);
    for (const d of disclosures) {
      expect(d).toMatchObject({
        recipient: 'AL',
        agreementId: 'MK-AL-1',
        eventType: 'stats.aggregate',
        mode: 'aggregate',
      });
    }
  });

  it('publishes a period once: not at the next flush, nor after a restart that counts it again', async () => {
    const first = aggregator();
    add(first, WEEK_36, 'GR-MK', 5);
    expect(await first.flush(new Date(WEEK_37 + 1))).toBe(1);
    expect(await first.flush(new Date(WEEK_37 + 2))).toBe(0);

    // A restarted gateway counts the period again from WBX_EVENTS; wbx_state says it was published.
    const again = aggregator();
    add(again, WEEK_36, 'GR-MK', 5);
    expect(await again.flush(new Date(WEEK_37 + 1))).toBe(0);
    expect(await messages(jsm, shareStream('AL'))).toBe(1);
    expect((await auditEntries(jsm)).filter((e) => e.kind === 'disclosure')).toHaveLength(1);
  });
});
