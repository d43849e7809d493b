import { createHash } from 'node:crypto';

import { AckPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { partnerPolicy, type PolicyEvent } from '@wbx/agreements';
import type { AuditLog } from '@wbx/audit';
import { uuidV7 } from '@wbx/schema';
import { verifyPresentation } from '@wbx/seal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Aggregator, type AggregatorOptions } from '../../src/aggregator.js';
import { shareStream } from '../../src/nats-layout.js';
import { aggregatorBed, type AggregatorBed } from '../support/aggregator-bed.js';
import { agreement, auditEntries, messages, quiet, until, type Partners } from '../support/fixtures.js';

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

let bed: AggregatorBed;
let js: JetStreamClient;
let jsm: JetStreamManager;
let state: KV;
let p: Partners;
let audit: AuditLog;

beforeEach(async () => {
  bed = await aggregatorBed();
  ({ js, jsm, state, p, audit } = bed);
});

afterEach(async () => {
  await bed[Symbol.asyncDispose]();
});

/** MK's aggregator (one replica); periods close as soon as they end (no grace, no settling). */
const aggregator = (extra: Partial<AggregatorOptions> = {}): Aggregator =>
  new Aggregator({
    partner: 'MK',
    js,
    state,
    sealer: p.sealer('MK'),
    audit,
    log: quiet(),
    graceMs: 0,
    settleMs: 0,
    ...extra,
  });

/** The incidents counted so far, each with its own event id. */
let counter = 0;

/** `n` incidents on `routeSegment` that occurred `hours` into the week starting at `week`, with their ids. */
function incidents(week: number, routeSegment: string, n: number, hours = 12): [string, PolicyEvent][] {
  const occurredAt = new Date(week + hours * 3_600_000).toISOString();
  return Array.from({ length: n }, () => {
    counter += 1;
    const event: PolicyEvent = {
      type: 'smuggling.incident',
      origin: 'MK',
      claims: { occurredAt, routeSegment },
    };
    return [uuidV7(week, counter.toString(16).padStart(19, '0')), event];
  });
}

/** Counts the incidents with `to`, all at once (as the share worker does, up to its ack window). */
async function count(to: Aggregator, events: [string, PolicyEvent][]): Promise<void> {
  await Promise.all(
    events.flatMap(([id, event]) =>
      policy.grants(event, new Date()).map((g) => to.add(id, event, g.aggregates)),
    ),
  );
}

/** Counts `n` new incidents on `routeSegment` that occurred `hours` into the week starting at `week`. */
async function add(to: Aggregator, week: number, routeSegment: string, n: number, hours = 12): Promise<void> {
  await count(to, incidents(week, routeSegment, n, hours));
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
    await add(agg, WEEK_36, 'GR-MK', 4);
    await add(agg, WEEK_36, 'RS-HU', 2);
    await add(agg, WEEK_37, 'GR-MK', 3);

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
    const events = incidents(WEEK_36, 'GR-MK', 5);
    await count(first, events);
    expect(await first.flush(new Date(WEEK_37 + 1))).toBe(1);
    expect(await first.flush(new Date(WEEK_37 + 2))).toBe(0);

    // A restarted gateway counts the period again from WBX_EVENTS; wbx_state says it was published.
    const again = aggregator();
    await count(again, events);
    expect(await again.flush(new Date(WEEK_37 + 1))).toBe(0);
    expect(await messages(jsm, shareStream('AL'))).toBe(1);
    expect((await auditEntries(jsm)).filter((e) => e.kind === 'disclosure')).toHaveLength(1);
  });

  it('publishes a period only once the events delivered before it settled are acknowledged', async () => {
    // The events as the share worker reads them: a stream and its durable consumer, shared by replicas.
    const source = { stream: 'EVENTS_HELD', consumer: 'share' };
    await jsm.streams.add({ name: source.stream, subjects: ['held.>'] });
    await jsm.consumers.add(source.stream, {
      durable_name: source.consumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 1_000_000_000,
    });
    const events = incidents(WEEK_36, 'GR-MK', 3);
    for (const e of events) await js.publish('held.events', JSON.stringify(e));
    const consumer = await js.consumers.get(source.stream, source.consumer);
    const fetch = async (max: number): Promise<JsMsg[]> => {
      const got: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: max, expires: 1_000 })) got.push(m);
      return got;
    };
    const countAndAck = async (agg: Aggregator, ms: JsMsg[]): Promise<void> => {
      await count(
        agg,
        ms.map((m) => m.json<[string, PolicyEvent]>()),
      );
      await Promise.all(ms.map((m) => m.ackAck()));
    };

    // A replica takes the first event and dies holding it: delivered, neither counted nor acknowledged.
    expect(await fetch(1)).toHaveLength(1);
    const agg = aggregator({ source });
    const others = await fetch(2);
    expect(others).toHaveLength(2);
    await countAndAck(agg, others);
    expect(await agg.flush(new Date(WEEK_37 + 1))).toBe(0);
    expect(await messages(jsm, shareStream('AL'))).toBe(0);

    // After ack_wait it is delivered again, counted and acknowledged: now the period is published, exact.
    const again = await until(
      'the held event delivered again',
      async () => {
        const ms = await fetch(1);
        return ms.length > 0 ? ms : undefined;
      },
      30_000,
    );
    await countAndAck(agg, again);
    expect(await until('the period published', () => agg.flush(new Date(WEEK_37 + 2)), 30_000)).toBe(1);
    expect(await shared()).toMatchObject([
      { period: '2023-W36', cells: [{ values: ['GR-MK'], count: 3, suppressed: false }] },
    ]);
  });

  it.each(['appended', 'noted'] as const)(
    'audits and publishes a vintage once when its claimer dies after its audit entry was %s',
    async (point) => {
      const dying = aggregator({
        crashPoint: (at) => {
          if (at === point) throw new Error(`replica died (${at})`);
        },
      });
      await add(dying, WEEK_36, 'GR-MK', 4);
      await expect(dying.flush(new Date(WEEK_37 + 1))).rejects.toThrow('replica died');
      expect(await messages(jsm, shareStream('AL'))).toBe(0);

      // Another replica takes the vintage over once its claim's lease ran out (here at once).
      expect(await aggregator({ claimLeaseMs: 0 }).flush(new Date(WEEK_37 + 2))).toBe(1);
      expect(await aggregator({ claimLeaseMs: 0 }).flush(new Date(WEEK_37 + 3))).toBe(0);
      const vintages = await shared();
      expect(vintages).toMatchObject([
        { period: '2023-W36', cells: [{ values: ['GR-MK'], count: 4, suppressed: false }] },
      ]);
      const disclosures = (await auditEntries(jsm)).filter((e) => e.kind === 'disclosure');
      expect(disclosures.map((d) => d.eventId)).toEqual([vintages[0]?.jti]);
    },
  );

  it('counts an event delivered twice once', async () => {
    const agg = aggregator();
    const events = incidents(WEEK_36, 'GR-MK', 3);
    await count(agg, events);
    await count(agg, events); // redelivered
    await count(agg, events.slice(0, 1)); // and once more
    expect(await agg.flush(new Date(WEEK_37 + 1))).toBe(1);
    const [week36] = await shared();
    expect(week36).toMatchObject({ cells: [{ values: ['GR-MK'], count: 3, suppressed: false }] });
  });

  it('counts the events in flight for one shard document in far fewer compare-and-sets than events', async () => {
    // 200 incidents of week 36 whose ids fall into the same one of the period's 16 shard documents.
    const shardOf = (id: string): number =>
      parseInt(createHash('sha256').update(id).digest('hex').slice(0, 8), 16) % 16;
    const events: [string, PolicyEvent][] = [];
    while (events.length < 200)
      events.push(...incidents(WEEK_36, 'GR-MK', 1).filter(([id]) => shardOf(id) === 0));
    const agg = aggregator();
    // All at once, as the share worker's window delivers them; a fifth of them delivered twice.
    await count(agg, [...events, ...events.slice(0, 40)]);
    const stats = agg.casStats;
    expect(stats.counted).toBe(200);
    expect(stats.writes).toBeLessThanOrEqual(20);
    // Delivered again after they were counted: nothing new, nothing written.
    await count(agg, events.slice(100));
    expect(agg.casStats).toEqual(stats);
    expect(await agg.flush(new Date(WEEK_37 + 1))).toBe(1);
    const [week36] = await shared();
    expect(week36).toMatchObject({ cells: [{ values: ['GR-MK'], count: 200, suppressed: false }] });
  });

  it('two replicas on one bucket count disjoint halves exactly and publish the period once', async () => {
    const [a, b] = [aggregator(), aggregator()];
    const events = [...incidents(WEEK_36, 'GR-MK', 40), ...incidents(WEEK_36, 'RS-HU', 21)];
    const half = Math.floor(events.length / 2);
    // At the same time, as two gateways would; each also sees a few of the other's (redelivered).
    await Promise.all([count(a, events.slice(0, half + 3)), count(b, events.slice(half - 3))]);
    const published = await Promise.all([a.flush(new Date(WEEK_37 + 1)), b.flush(new Date(WEEK_37 + 1))]);
    expect(published[0] + published[1]).toBe(1);
    expect(await shared()).toMatchObject([
      {
        period: '2023-W36',
        cells: [
          { values: ['GR-MK'], count: 40, suppressed: false },
          { values: ['RS-HU'], count: 21, suppressed: false },
        ],
      },
    ]);
    expect((await auditEntries(jsm)).filter((e) => e.kind === 'disclosure')).toHaveLength(1);
  });

  it('re-issues a period counted after it was published as a revised vintage under a new id', async () => {
    const agg = aggregator();
    await add(agg, WEEK_36, 'GR-MK', 3);
    expect(await agg.flush(new Date(WEEK_37 + 1))).toBe(1);
    await add(agg, WEEK_36, 'GR-MK', 3, 30); // late, as many as minCell
    expect(await agg.flush(new Date(WEEK_37 + 2))).toBe(1);
    const [first, revised] = await shared();
    expect(first).toMatchObject({ period: '2023-W36', cells: [{ values: ['GR-MK'], count: 3 }] });
    expect(revised).toMatchObject({ period: '2023-W36', cells: [{ values: ['GR-MK'], count: 6 }] });
    expect(revised?.jti).not.toBe(first?.jti);
    // Nothing new: no third vintage.
    expect(await agg.flush(new Date(WEEK_37 + 3))).toBe(0);
    expect((await auditEntries(jsm)).filter((e) => e.kind === 'disclosure')).toHaveLength(2);
  });

  it('shows in a revised vintage no change of a cell smaller than minCell', async () => {
    const agg = aggregator();
    await add(agg, WEEK_36, 'GR-MK', 10);
    await add(agg, WEEK_36, 'RS-HU', 4);
    await add(agg, WEEK_36, 'AL-GR', 1);
    expect(await agg.flush(new Date(WEEK_37 + 1))).toBe(1);

    // One late incident: 10 → 11 would tell AL of that one incident. No vintage.
    await add(agg, WEEK_36, 'GR-MK', 1, 30);
    expect(await agg.flush(new Date(WEEK_37 + 2))).toBe(0);
    expect(await messages(jsm, shareStream('AL'))).toBe(1);

    // More late ones: RS-HU moves by minCell (4 → 7) and shows it; GR-MK (12, published from 10) and
    // the suppressed AL-GR (1 → 2) keep what they showed; a new cell below minCell stays out.
    await add(agg, WEEK_36, 'RS-HU', 3, 30);
    await add(agg, WEEK_36, 'GR-MK', 1, 30);
    await add(agg, WEEK_36, 'AL-GR', 1, 30);
    await add(agg, WEEK_36, 'XK-RS', 2, 30);
    expect(await agg.flush(new Date(WEEK_37 + 3))).toBe(1);
    // GR-MK reaches 13: three more than it was published from.
    await add(agg, WEEK_36, 'GR-MK', 1, 30);
    expect(await agg.flush(new Date(WEEK_37 + 4))).toBe(1);

    const vintages = (await shared()).map((v) => v.cells);
    expect(vintages).toEqual([
      [
        { values: ['AL-GR'], count: 0, suppressed: true },
        { values: ['GR-MK'], count: 10, suppressed: false },
        { values: ['RS-HU'], count: 4, suppressed: false },
      ],
      [
        { values: ['AL-GR'], count: 0, suppressed: true },
        { values: ['GR-MK'], count: 10, suppressed: false },
        { values: ['RS-HU'], count: 7, suppressed: false },
      ],
      [
        { values: ['AL-GR'], count: 0, suppressed: true },
        { values: ['GR-MK'], count: 13, suppressed: false },
        { values: ['RS-HU'], count: 7, suppressed: false },
      ],
    ]);
    expect((await auditEntries(jsm)).filter((e) => e.kind === 'disclosure')).toHaveLength(3);
  });
});
