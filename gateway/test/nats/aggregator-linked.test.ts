// Two agreements of MK with AL over the same incidents: weekly counts by route segment and modus operandi
// (MK-AL-1), and by route segment alone (MK-AL-2). Whichever is published second is protected against the
// first (secondary suppression): AL cannot subtract one from the other to recover a suppressed cell.
import { createHash } from 'node:crypto';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { aggregate, partnerPolicy, type AggregateCell, type PolicyEvent } from '@wbx/agreements';
import type { AuditLog } from '@wbx/audit';
import { uuidV7 } from '@wbx/schema';
import { verifyPresentation } from '@wbx/seal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Aggregator } from '../../src/aggregator.js';
import { shareStream } from '../../src/nats-layout.js';
import { aggregatorBed, type AggregatorBed } from '../support/aggregator-bed.js';
import { agreement, messages, quiet, type Partners } from '../support/fixtures.js';

const term = (dimensions: string[]) => ({
  types: ['smuggling.incident'],
  mode: 'aggregate',
  dimensions,
  period: 'week',
  minCell: 3,
  retentionDays: 30,
});
const policy = partnerPolicy('MK', [
  agreement({
    id: 'MK-AL-1',
    provider: 'MK',
    recipient: 'AL',
    purposes: ['risk-analysis'],
    terms: [term(['routeSegment', 'modusOperandi'])],
  }),
  agreement({
    id: 'MK-AL-2',
    provider: 'MK',
    recipient: 'AL',
    purposes: ['risk-analysis'],
    terms: [term(['routeSegment'])],
  }),
]);
/** Monday 2023-09-04 (ISO week 36) and the week after. */
const WEEK_36 = Date.parse('2023-09-04T00:00:00Z');
const WEEK_37 = Date.parse('2023-09-11T00:00:00Z');

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

let counter = 0;

/** Counts `n` incidents on `routeSegment` with `modusOperandi` in week 36, under every grant. */
async function add(agg: Aggregator, routeSegment: string, modusOperandi: string, n: number) {
  const occurredAt = new Date(WEEK_36 + 12 * 3_600_000).toISOString();
  await Promise.all(
    Array.from({ length: n }, () => {
      counter += 1;
      const id = uuidV7(WEEK_36, counter.toString(16).padStart(19, '0'));
      const event: PolicyEvent = {
        type: 'smuggling.incident',
        origin: 'MK',
        claims: { occurredAt, routeSegment, modusOperandi },
      };
      return Promise.all(policy.grants(event, new Date()).map((g) => agg.add(id, event, g.aggregates)));
    }),
  );
}

/** The aggregates AL received, by their dimensions. */
async function received(): Promise<Map<string, readonly AggregateCell[]>> {
  const out = new Map<string, readonly AggregateCell[]>();
  for (let seq = 1; seq <= (await messages(jsm, shareStream('AL'))); seq++) {
    const m = await jsm.streams.getMessage(shareStream('AL'), { seq });
    const claims = verifyPresentation(m!.string(), { manifest: p.manifest, now: new Date(WEEK_37) }).claims;
    out.set((claims.dimensions as string[]).join(' × '), claims.cells as AggregateCell[]);
  }
  return out;
}

const aggregator = () =>
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

describe('Aggregator (tables of the same events)', () => {
  it('suppresses complementary cells so that one table minus the other gives no suppressed cell', async () => {
    const [a, b] = [aggregator(), aggregator()];
    await add(a, 'GR-MK', 'on-foot-guided', 2);
    await add(a, 'GR-MK', 'vehicle-open', 30);
    await add(b, 'RS-HU', 'on-foot-guided', 10);
    // Two replicas publish at the same time: the link document is written by compare-and-set.
    const published = await Promise.all([a.flush(new Date(WEEK_37 + 1)), b.flush(new Date(WEEK_37 + 1))]);
    expect(published[0] + published[1]).toBe(2);
    const tables = await received();
    const fine = tables.get('routeSegment × modusOperandi');
    const coarse = tables.get('routeSegment');
    expect(fine).toBeDefined();
    expect(coarse).toBeDefined();
    // GR-MK: 2 (suppressed) + 30 = 32. Either the 32 is suppressed, or the 30 is too.
    const cell = (cells: readonly AggregateCell[] | undefined, values: string[]) =>
      cells?.find((c) => JSON.stringify(c.values) === JSON.stringify(values));
    expect(cell(fine, ['GR-MK', 'on-foot-guided'])).toMatchObject({ count: 0, suppressed: true });
    const coarseHidden = cell(coarse, ['GR-MK'])?.suppressed === true;
    const fineHidden = cell(fine, ['GR-MK', 'vehicle-open'])?.suppressed === true;
    expect(coarseHidden !== fineHidden).toBe(true); // one of the two, not both
    // The complement travels marked secondary (D in SDMX-CSV), the cell below minCell not (C).
    const complement = coarseHidden ? cell(coarse, ['GR-MK']) : cell(fine, ['GR-MK', 'vehicle-open']);
    expect(complement).toMatchObject({ count: 0, suppressed: true, secondary: true });
    expect(cell(fine, ['GR-MK', 'on-foot-guided'])?.secondary).toBeUndefined();
    // RS-HU has no suppressed cell: published in both.
    expect(cell(coarse, ['RS-HU'])).toEqual({ values: ['RS-HU'], count: 10, suppressed: false });
    expect(cell(fine, ['RS-HU', 'on-foot-guided'])).toMatchObject({ count: 10, suppressed: false });
  });
});

describe('Aggregator (cell-key noise)', () => {
  it('publishes with the noise aggregate() gives the same records, the same on every replica', async () => {
    const noisy = partnerPolicy('MK', [
      agreement({
        id: 'MK-AL-3',
        provider: 'MK',
        recipient: 'AL',
        purposes: ['risk-analysis'],
        terms: [{ ...term(['routeSegment']), noise: 'cell-key' }],
      }),
    ]);
    const recordKey = (id: string) => createHash('sha256').update(`k/${id}`).digest().readUInt32BE(0);
    const replica = () =>
      new Aggregator({
        partner: 'MK',
        js,
        state,
        sealer: p.sealer('MK'),
        audit,
        log: quiet(),
        graceMs: 0,
        settleMs: 0,
        recordKey,
      });
    const [a, b] = [replica(), replica()];
    const occurredAt = new Date(WEEK_36 + 12 * 3_600_000).toISOString();
    const events = ['GR-MK', 'RS-HU', 'MK-RS'].flatMap((segment, s) =>
      Array.from({ length: 20 + 7 * s }, (_, i) => {
        const id = uuidV7(WEEK_36, `${s + 1}${i.toString(16).padStart(18, '0')}`);
        const event: PolicyEvent = {
          type: 'smuggling.incident',
          origin: 'MK',
          claims: { occurredAt, routeSegment: segment, modusOperandi: 'vehicle-open' },
        };
        return { id, event };
      }),
    );
    // Counted by two replicas, each a part (and a few twice).
    await Promise.all(
      events.map(({ id, event }, i) =>
        Promise.all(
          noisy
            .grants(event, new Date())
            .flatMap((g) => [
              (i % 2 === 0 ? a : b).add(id, event, g.aggregates),
              ...(i % 5 === 0 ? [(i % 2 === 0 ? b : a).add(id, event, g.aggregates)] : []),
            ]),
        ),
      ),
    );
    expect((await a.flush(new Date(WEEK_37 + 1))) + (await b.flush(new Date(WEEK_37 + 1)))).toBe(1);
    const ids = new Map(events.map(({ id, event }) => [event, id]));
    const [grant] = noisy.grants(events[0]!.event, new Date()).flatMap((g) => g.aggregates);
    const expected = aggregate(
      grant!.term,
      'smuggling.incident',
      events.map((e) => e.event),
      new Date(WEEK_36),
      { recordKey: (e) => recordKey(ids.get(e) ?? '') },
    ).cells;
    expect((await received()).get('routeSegment')).toEqual(expected);
    // The noise is there (these records' keys give some cell a noise other than 0) and bounded.
    const exact = aggregate(
      grant!.term,
      'smuggling.incident',
      events.map((e) => e.event),
      new Date(WEEK_36),
    );
    expect(expected).not.toEqual(exact.cells);
    const truth = new Map([
      ['GR-MK', 20],
      ['RS-HU', 27],
      ['MK-RS', 34],
    ]);
    for (const c of expected)
      expect(Math.abs(c.count - (truth.get(c.values[0]!) ?? 0))).toBeLessThanOrEqual(2);
  });
});
