// pnpm bench analytics [--events N] [--requests N]
// The analytics node at a year of six partners: ingest rate into the store beside the raw inbox read rate
// of the same JetStream messages, then each dashboard view's p50/p99 over HTTP (goal: every view < 100 ms
// p99). The aggregates are counted with @wbx/agreements as an origin would; the items (aggregates and the
// records an agreement may allow) travel as JSON in a JetStream stream and are written through the store's
// public write API in batches as InboxIngestor does, without its verification (bench/verify.ts measures it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DeliverPolicy, jetstream, jetstreamManager, StorageType, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { aggregate, periodBounds, type AggregateTerm, type PolicyEvent } from '@wbx/agreements';
import { AnalyticsApi, AnalyticsStore, type StoreItem } from '@wbx/analytics';
import { CATALOGUE, validateEvent, type EventType, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { startNatsServer } from '@wbx/test-helpers';

import { arg, machine, quantile, round } from './_common.ts';

const perPartner = arg('events', 15_000);
const requests = arg('requests', 200);
const PARTNERS = ['RS', 'MK', 'BA', 'AL', 'ME', 'XK'];
const YEAR = 2025;
const BATCH = 500;
const STREAM = 'BENCH_ANALYTICS_INBOX';
/** Kept as records (an agreement of records mode), the rest only as aggregates. */
const RECORD_TYPES = new Set<string>(['readmission.request', 'readmission.response', 'reception.capacity']);

const term = (types: EventType[], dimensions: string[], period: AggregateTerm['period']): AggregateTerm => ({
  mode: 'aggregate',
  types,
  dimensions,
  period,
  minCell: 5,
  retentionDays: 3650,
});

/** The grid of an origin's agreement with the analytics partner: per type and period, the dimension sets. */
function terms(): { type: EventType; term: AggregateTerm }[] {
  const out: { type: EventType; term: AggregateTerm }[] = [];
  const crossing: EventType = 'crossing.irregular';
  for (const dims of [
    ['direction'],
    ['routeSegment', 'direction'],
    ['persons.citizenship'],
    ['persons.sex'],
    ['persons.ageBand'],
    ['persons.unaccompaniedMinor'],
  ]) {
    out.push({ type: crossing, term: term([crossing], dims, 'month') });
  }
  out.push({ type: crossing, term: term([crossing], ['routeSegment'], 'week') });
  const others = Object.keys(CATALOGUE).filter(
    (t) => t !== crossing && t !== 'stats.aggregate' && !t.startsWith('record.') && !RECORD_TYPES.has(t),
  ) as EventType[];
  for (const type of others) out.push({ type, term: term([type], ['persons.citizenship'], 'month') });
  return out;
}

function policyEvent(e: ValidEvent): PolicyEvent {
  const body = (e as unknown as Record<string, unknown>)[CATALOGUE[e.type]];
  return {
    type: e.type,
    origin: e.origin,
    claims: { occurredAt: e.occurredAt, recordedAt: e.recordedAt, ...(body as Record<string, unknown>) },
  };
}

/** Period starts of `kind` whose period begins in the year. */
function starts(kind: AggregateTerm['period']): Date[] {
  const out: Date[] = [];
  let t = new Date(Date.UTC(YEAR, 0, 1));
  while (t.getUTCFullYear() === YEAR) {
    const { start, end } = periodBounds(t, kind);
    if (start.getUTCFullYear() === YEAR) out.push(start);
    t = end;
  }
  return out;
}

let seq = 0;
function provenance(origin: string, issuedAt: Date): StoreItem['provenance'] {
  seq += 1;
  return {
    origin,
    eventId: `00000000-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    kid: `${origin}#2025-01-01-1`,
    agreementId: `${origin}-ANALYTICS-1`,
    issuedAt: issuedAt.toISOString(),
    verifiedAt: issuedAt.toISOString(),
    inboxSeq: seq,
  };
}

// 1. A year of generated events per partner, counted on the grid (as the origins would) and kept as
//    records where the type is of RECORD_TYPES.
const generatedStarted = performance.now();
const items: StoreItem[] = [];
let events = 0;
const grid = terms();
for (const partner of PARTNERS) {
  const byType = new Map<string, PolicyEvent[]>();
  for (const e of generateEvents({
    partner,
    count: perPartner,
    seed: `bench-analytics-${partner}`,
    from: new Date(Date.UTC(YEAR, 0, 1)),
    to: new Date(Date.UTC(YEAR + 1, 0, 1)),
  })) {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('a generated event is invalid');
    events += 1;
    const p = policyEvent(r.event);
    if (RECORD_TYPES.has(r.event.type)) {
      items.push({
        kind: 'record',
        provenance: provenance(partner, new Date(r.event.recordedAt)),
        type: r.event.type,
        claims: p.claims,
        token: 'bench',
      });
    }
    const list = byType.get(p.type) ?? [];
    list.push(p);
    byType.set(p.type, list);
  }
  for (const { type, term: t } of grid) {
    const list = byType.get(type) ?? [];
    if (list.length === 0) continue;
    for (const start of starts(t.period)) {
      const body = aggregate(t, type, list, start);
      if (body.cells.length === 0) continue;
      items.push({
        kind: 'aggregate',
        provenance: provenance(partner, periodBounds(start, t.period).end),
        sourceType: body.sourceType,
        period: body.period,
        dimensions: [...body.dimensions],
        minCell: body.minCell,
        cells: body.cells.map((c) => ({ values: [...c.values], count: c.count, suppressed: c.suppressed })),
        token: 'bench',
      });
    }
  }
}
const aggregates = items.filter((i) => i.kind === 'aggregate').length;
const records = items.length - aggregates;
console.log(
  `${PARTNERS.length} partners, ${events} events of ${YEAR}: ${aggregates} aggregates and ${records} records ` +
    `(${round((performance.now() - generatedStarted) / 1000, 1)} s to generate and count)`,
);

const nats = await startNatsServer();
const nc = await connect({ servers: nats.url });
const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-analytics-'));
let store: AnalyticsStore | undefined;
let api: AnalyticsApi | undefined;
try {
  // 2. The inbox: every item one message, published once.
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ['bench.analytics.>'], storage: StorageType.File });
  const js = jetstream(nc);
  const window = 256;
  for (let i = 0; i < items.length; i += window) {
    await Promise.all(
      items
        .slice(i, i + window)
        .map((item) => js.publish(`bench.analytics.${item.provenance.origin}`, JSON.stringify(item))),
    );
  }
  const total = items.length;

  /** Reads the whole stream with an ordered consumer, `take` on each message; resolves to messages/s. */
  const readAll = async (take: (m: JsMsg) => Promise<void> | void): Promise<number> => {
    const consumer = await js.consumers.get(STREAM, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume();
    const started = performance.now();
    let n = 0;
    for await (const m of messages) {
      await take(m);
      n += 1;
      if (m.info.pending === 0 && n >= total) break;
    }
    const seconds = (performance.now() - started) / 1000;
    messages.stop();
    return n / seconds;
  };

  // The raw floor: the same messages read, nothing verified, parsed or stored.
  let bytes = 0;
  await readAll((m) => {
    bytes += m.data.length;
  }); // warm-up (the server's page cache)
  const raw = Math.max(
    await readAll((m) => {
      bytes += m.data.length;
    }),
    await readAll((m) => {
      bytes += m.data.length;
    }),
  );

  // The ingest: parsed and written to the store in batches, as InboxIngestor's loop does.
  store = await AnalyticsStore.open(join(dir, 'analytics.duckdb'));
  const s = store;
  let batch: StoreItem[] = [];
  let stored = 0;
  const ingest = await readAll(async (m) => {
    batch.push(JSON.parse(m.string()) as StoreItem);
    if (batch.length >= BATCH || m.info.pending === 0) {
      stored += await s.write(batch, m.seq);
      batch = [];
    }
  });
  if (batch.length > 0) throw new Error('a batch was left unwritten');
  if (stored !== total) throw new Error(`stored ${stored} of ${total}`);
  console.log(
    `raw inbox read (no parse, no store): ${round(raw)} msg/s (${round(bytes / 3 / total)} B a message)`,
  );
  console.log(`ingest into the store (parse + DuckDB write, batches of ${BATCH}): ${round(ingest)} msg/s`);
  console.log(`ingest ratio vs the raw read: ${round(ingest / raw, 3)}`);

  // 3. The dashboard API, over HTTP on loopback.
  api = await AnalyticsApi.start({ store });
  const views = [
    'indicators',
    'nationalities',
    'route',
    'demographics',
    'lag',
    'origins',
    'readmission',
    'reception',
    'warnings',
  ];
  const timed = async (path: string): Promise<number> => {
    const started = performance.now();
    const res = await fetch(`${api?.url ?? ''}${path}`);
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
    await res.arrayBuffer();
    return performance.now() - started;
  };
  const figures: Record<string, { first_ms: number; p50_ms: number; p99_ms: number }> = {};
  for (const view of views) {
    const path = `/api/v1/dashboard/${view}`;
    const first = await timed(path); // computed in the store (the cache is empty at this position)
    for (let i = 0; i < 20; i++) await timed(path); // warm-up
    const times: number[] = [];
    for (let i = 0; i < requests; i++) times.push(await timed(path));
    times.sort((a, b) => a - b);
    figures[view] = {
      first_ms: round(first, 1),
      p50_ms: round(quantile(times, 0.5), 2),
      p99_ms: round(quantile(times, 0.99), 2),
    };
    console.log(
      `${path}: first ${round(first, 1)} ms, then p50 ${figures[view].p50_ms} ms, p99 ` +
        `${figures[view].p99_ms} ms (${requests} requests)`,
    );
  }
  const worst = Math.max(...Object.values(figures).map((f) => f.p99_ms));
  const worstFirst = Math.max(...Object.values(figures).map((f) => f.first_ms));
  console.log(`worst view p99: ${worst} ms (goal < 100 ms); worst first computation: ${worstFirst} ms`);
  console.log(
    JSON.stringify({
      bench: 'analytics',
      partners: PARTNERS.length,
      events,
      aggregates,
      records,
      messages: total,
      raw_inbox_read_per_s: round(raw),
      ingest_per_s: round(ingest),
      floor: 'raw read of the same inbox messages (ordered consumer, no parse, no store), messages/s',
      floor_events_per_s: round(raw),
      ratio_vs_floor: round(ingest / raw, 3),
      views: figures,
      worst_p99_ms: worst,
      worst_first_ms: worstFirst,
      machine: machine(),
    }),
  );
} finally {
  await api?.close();
  await store?.close();
  await nc.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}
