// Aggregates stay exact through crashes. One MK gateway (a real `wbx gateway` process on an external
// nats-server) has an aggregates agreement with FRONTEX (cells below minCell suppressed). A generated file
// is ingested with `wbx ingest`, and mid-run either the gateway or the nats-server is killed -9; it is
// started again on the same data (the nats-server on its store dir and port) and the whole file is
// ingested again: the events stored before the kill come back as duplicates. Meanwhile the gateway runs
// with a long aggregateSettle, as for a back-fill, so that no period closes before every event has come;
// then it is restarted with a short one and publishes. FRONTEX's aggregates (MK's share stream for
// FRONTEX) then equal the counts computed directly from the file after suppression, each period once,
// and each audited once. Late events for one published period then give exactly one revised vintage, of
// that period only, and no vintage counts an event twice.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  aggregate,
  periodBounds,
  type AggregateCell,
  type AggregateTerm,
  type PolicyEvent,
} from '@wbx/agreements';
import { decodeAuditEntry, readAudit } from '@wbx/audit';
import { wbxBinary } from '@wbx/cli';
import { makeFederation } from '@wbx/fixtures';
import { decodeManifest, type ManifestBody, type SignedManifest } from '@wbx/registry';
import { uuidV7, type EventType } from '@wbx/schema';
import { verifyPresentation } from '@wbx/seal';
import { eventToNdjsonLine, generateEvents } from '@wbx/synth';
import {
  spawnNode,
  startGatewayProcess,
  startNatsServer,
  until,
  type GatewayProcess,
  type NatsServer,
} from '@wbx/test-helpers';
import { afterEach, describe, expect, it } from 'vitest';

const WBX = wbxBinary();
const COUNT = 4_000;
/** Persons crossing irregularly per week by route segment and citizenship; incidents per day by segment. */
const TERMS: readonly AggregateTerm[] = [
  {
    types: ['crossing.irregular'],
    mode: 'aggregate',
    dimensions: ['routeSegment', 'persons.citizenship'],
    period: 'week',
    minCell: 5,
    retentionDays: 30,
  },
  {
    types: ['smuggling.incident'],
    mode: 'aggregate',
    dimensions: ['routeSegment'],
    period: 'day',
    minCell: 3,
    retentionDays: 30,
  },
];
const SHARE = 'WBX_SHARE_FRONTEX';
/** Long enough that no period is published while the file is (re-)ingested. */
const BACKFILL_SETTLE = '10m';
/** Late incidents added to one published day: as many as its minCell, so the change is never hidden. */
const LATE = 3;

/** A generated event as JSON (proto3 canonical). */
type EventJson = Record<string, unknown> & {
  readonly eventId: string;
  readonly type: string;
  readonly occurredAt: string;
};

/** One aggregate as FRONTEX receives it. */
interface Received {
  readonly eventId: string;
  /** `<sourceType> <period>`. */
  readonly key: string;
  readonly cells: readonly AggregateCell[];
}

const cleanup: (() => PromiseLike<unknown>)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** The event as the aggregator sees it: its type, and its claims (occurredAt and the body's fields). */
function policyEvent(e: EventJson): PolicyEvent {
  const body = Object.values(e).find((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
  return { type: e.type, origin: 'MK', claims: { occurredAt: e.occurredAt, ...(body as object) } };
}

/**
 * The aggregates of `events` computed from them directly: per term, source type and period, the cells of
 * @wbx/agreements' `aggregate` (cells below minCell suppressed; with `minCell: 0` the true counts), by
 * `<sourceType> <period>`.
 */
function aggregatesOf(events: readonly EventJson[], minCell?: number): Map<string, readonly AggregateCell[]> {
  const out = new Map<string, readonly AggregateCell[]>();
  for (const t of TERMS) {
    const term = minCell === undefined ? t : { ...t, minCell };
    const groups = new Map<string, { start: Date; type: EventType; events: PolicyEvent[] }>();
    for (const e of events) {
      if (!(term.types as readonly string[]).includes(e.type)) continue;
      const { period, start } = periodBounds(new Date(e.occurredAt), term.period);
      const key = `${e.type} ${period}`;
      const group = groups.get(key) ?? { start, type: e.type as EventType, events: [] };
      group.events.push(policyEvent(e));
      groups.set(key, group);
    }
    for (const [key, group] of groups) {
      const { cells } = aggregate(term, group.type, group.events, group.start);
      if (cells.length > 0) out.set(key, cells);
    }
  }
  return out;
}

/** The ISO week (`2025-W07`) of a UTC instant, computed here: the week of its Thursday. */
function isoWeekOf(iso: string): string {
  const day = new Date(`${iso.slice(0, 10)}T00:00:00Z`);
  const thursday = new Date(day.getTime() + (3 - ((day.getUTCDay() + 6) % 7)) * 86_400_000);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/**
 * The true counts of `events` counted by hand, without @wbx/agreements (an oracle independent of the
 * `aggregate` the gateway counts with): persons crossing per ISO week, route segment and citizenship, and
 * incidents per UTC day and route segment, by `<sourceType> <period>`, then by the cell's values joined.
 */
function countedByHand(events: readonly EventJson[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const add = (key: string, values: readonly string[]): void => {
    const cells = out.get(key) ?? new Map<string, number>();
    cells.set(values.join('|'), (cells.get(values.join('|')) ?? 0) + 1);
    out.set(key, cells);
  };
  for (const e of events) {
    if (e.type === 'crossing.irregular') {
      const c = e.crossingIrregular as { routeSegment: string; persons: { citizenship: string }[] };
      const key = `${e.type} ${isoWeekOf(e.occurredAt)}`;
      for (const p of c.persons) add(key, [c.routeSegment, p.citizenship]);
    } else if (e.type === 'smuggling.incident') {
      const c = e.smugglingIncident as { routeSegment: string };
      add(`${e.type} ${e.occurredAt.slice(0, 10)}`, [c.routeSegment]);
    }
  }
  return out;
}

/**
 * That the first vintages equal the hand count: every key; each cell shown with its exact count at or above
 * the term's minCell, or hidden (below minCell, or a complement hiding another); every cell at or above
 * minCell is there.
 */
function expectHandCounts(
  first: Map<string, (readonly AggregateCell[])[]>,
  events: readonly EventJson[],
): void {
  const hand = countedByHand(events);
  expect(new Set(first.keys())).toEqual(new Set(hand.keys()));
  for (const [key, counts] of hand) {
    const minCell = key.startsWith('crossing.irregular') ? 5 : 3;
    const cells = first.get(key)?.[0] ?? [];
    const shown = new Map(cells.map((c) => [c.values.join('|'), c]));
    for (const [values, count] of counts) {
      const cell = shown.get(values);
      const seen = cell === undefined ? 'absent' : cell.suppressed ? 'hidden' : cell.count;
      const want = count >= minCell ? (cell?.secondary === true ? 'hidden' : count) : 'hidden';
      expect({ key, values, seen }).toEqual({ key, values, seen: want });
    }
    expect(cells.length, key).toBe(counts.size);
  }
}

/** Every aggregate in MK's share stream for FRONTEX, verified against the manifest, in stream order. */
async function received(jsm: JetStreamManager, manifest: ManifestBody): Promise<Received[]> {
  const info = await jsm.streams.info(SHARE);
  const out: Received[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(SHARE, { seq });
    if (m === null) continue;
    const v = verifyPresentation(m.string(), { manifest });
    const c = v.claims as { sourceType: string; period: string; cells: AggregateCell[] };
    expect(v.type).toBe('stats.aggregate');
    expect(m.header.get('Nats-Msg-Id')).toBe(v.eventId);
    out.push({ eventId: v.eventId, key: `${c.sourceType} ${c.period}`, cells: c.cells });
  }
  return out;
}

/** The received aggregates' cells by `<sourceType> <period>`: each period's vintages, oldest first. */
function vintages(list: readonly Received[]): Map<string, (readonly AggregateCell[])[]> {
  const out = new Map<string, (readonly AggregateCell[])[]>();
  for (const r of list) out.set(r.key, [...(out.get(r.key) ?? []), r.cells]);
  return out;
}

/** A file of `events` as `wbx ingest` reads it. */
async function writeNdjson(file: string, events: readonly EventJson[]): Promise<void> {
  await writeFile(file, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

interface Bed {
  readonly dir: string;
  readonly nats: NatsServer;
  readonly jsm: JetStreamManager;
  readonly manifest: ManifestBody;
  readonly events: EventJson[];
  readonly file: string;
  /** `wbx gateway` for MK on the same data directory and NATS, with `settle` as share.aggregateSettle. */
  startMk(settle: string): Promise<GatewayProcess>;
}

async function testBed(seed: string): Promise<Bed> {
  const dir = await mkdtemp(join(tmpdir(), 'wbx-aggkill-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const fed = await makeFederation(dir, ['MK', 'FRONTEX']);
  await fed.agree({
    id: 'MK-FRONTEX-aggregates',
    provider: 'MK',
    recipient: 'FRONTEX',
    purposes: ['risk-analysis'],
    legalBasis: 'Test agreement',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: TERMS,
  });
  const manifest = decodeManifest(
    JSON.parse(await readFile(fed.identity.manifestFile, 'utf8')) as SignedManifest,
  );
  const nats = await startNatsServer();
  cleanup.push(() => nats[Symbol.asyncDispose]());
  // Follows the server through its restart.
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  cleanup.push(() => nc.close());
  const jsm = await jetstreamManager(nc, { checkAPI: false });

  const events = [
    ...generateEvents({
      partner: 'MK',
      count: COUNT,
      seed,
      from: new Date('2024-01-01T00:00:00Z'),
      to: new Date('2024-02-01T00:00:00Z'),
    }),
  ].map((e) => JSON.parse(eventToNdjsonLine(e)) as EventJson);
  const file = join(dir, 'events.ndjson');
  await writeNdjson(file, events);

  const startMk = async (settle: string): Promise<GatewayProcess> => {
    const mk = await startGatewayProcess(
      WBX,
      [
        '--partner',
        'MK',
        '--key',
        fed.identity.keyFile('MK'),
        '--manifest',
        fed.identity.manifestFile,
        '--data',
        fed.dataDir('MK'),
        '--nats',
        nats.url,
        '--insecure',
        '--grpc-listen',
        '127.0.0.1:0',
        '--http-listen',
        '127.0.0.1:0',
      ],
      {
        env: {
          WBX_AGREEMENTS: fed.agreementsDir('MK'),
          WBX_SHARE_AGGREGATE_SETTLE: settle,
          WBX_SHARE_FLUSH_EVERY: '200ms',
          WBX_NATS_PUBLISH_TIMEOUT: '5s',
          WBX_LOG_LEVEL: 'warn',
        },
        timeoutMs: 60_000,
      },
    );
    cleanup.push(() => mk.stop());
    return mk;
  };
  return { dir, nats, jsm, manifest, events, file, startMk };
}

/** `wbx ingest` of `file` to the gateway at `grpc`, running. */
function startIngest(grpc: string, file: string): ReturnType<typeof spawnNode> {
  const child = spawnNode([WBX, 'ingest', '--gateway', grpc, '--insecure', '--file', file]);
  cleanup.push(() => child.stop());
  return child;
}

/**
 * `wbx ingest` of the whole file until it exits 0 (a run that fails while NATS is still coming back is run
 * again); the last run's summary counts.
 */
async function ingestAll(grpc: string, file: string): Promise<{ accepted: number; duplicates: number }> {
  for (let attempt = 1; ; attempt++) {
    const run = startIngest(grpc, file);
    const code = await run.exit(120_000);
    const summary = /accepted (\d+), duplicates (\d+), rejected (\d+)/.exec(run.stderr());
    if (code === 0 && summary !== null) {
      return { accepted: Number(summary[1]), duplicates: Number(summary[2]) };
    }
    if (attempt === 5) throw new Error(`wbx ingest exited ${code}: ${run.stderr()}`);
  }
}

/** How many events WBX_EVENTS holds, or undefined while NATS cannot say. */
async function stored(jsm: JetStreamManager): Promise<number | undefined> {
  return (await jsm.streams.info('WBX_EVENTS').catch(() => undefined))?.state.messages;
}

/** Resolves once WBX_EVENTS holds `n` events and the share worker acknowledged (counted) every one. */
async function allCounted(jsm: JetStreamManager, n: number): Promise<void> {
  await until(
    `${n} events stored and counted`,
    async () => {
      try {
        const info = await jsm.streams.info('WBX_EVENTS');
        const c = await jsm.consumers.info('WBX_EVENTS', 'wbx-share');
        return (
          info.state.messages === n &&
          c.ack_floor.stream_seq === info.state.last_seq &&
          c.num_pending === 0 &&
          c.num_ack_pending === 0
        );
      } catch {
        return false; // NATS is electing or reconnecting
      }
    },
    120_000,
    100,
  );
}

/** Resolves once MK's share stream for FRONTEX holds `n` aggregates (or more). */
async function published(jsm: JetStreamManager, n: number): Promise<void> {
  await until(
    `${n} aggregates shared with FRONTEX`,
    async () => ((await jsm.streams.info(SHARE).catch(() => undefined))?.state.messages ?? 0) >= n,
    60_000,
    100,
  );
}

/**
 * The part after the crash: every event counted, nothing published yet; a restart with a short settle
 * publishes each period once, exactly as computed from the file; late events give one revised vintage.
 */
async function checkAggregates(bed: Bed, mk: GatewayProcess): Promise<void> {
  const { jsm, manifest, events } = bed;
  await allCounted(jsm, COUNT);
  expect((await jsm.streams.info(SHARE)).state.messages).toBe(0);
  mk.process.kill('SIGTERM');
  expect(await mk.exit(30_000)).toBe(0);

  const publisher = await bed.startMk('300ms');
  const expected = aggregatesOf(events);
  await published(jsm, expected.size);
  const first = vintages(await received(jsm, manifest));
  expect(new Map([...first].map(([k, v]) => [k, v.length]))).toEqual(
    new Map([...expected.keys()].map((k) => [k, 1])),
  );
  expect(new Map([...first].map(([k, [cells]]) => [k, cells]))).toEqual(expected);
  expectHandCounts(first, events);

  // Late incidents on one published day and route segment: that day, and only it, gets a revised vintage.
  const template = events.find((e) => e.type === 'smuggling.incident')!;
  const late = Array.from({ length: LATE }, (_, i) => ({
    ...template,
    eventId: uuidV7(Date.parse(template.occurredAt), `${i + 1}`.padStart(19, 'a')),
  }));
  const lateFile = join(bed.dir, 'late.ndjson');
  await writeNdjson(lateFile, late);
  expect(await ingestAll(publisher.ready.grpc, lateFile)).toEqual({ accepted: LATE, duplicates: 0 });
  await allCounted(jsm, COUNT + LATE);
  await published(jsm, expected.size + 1);
  const all = await received(jsm, manifest);
  const after = vintages(all);
  const lateKey = `smuggling.incident ${periodBounds(new Date(template.occurredAt), 'day').period}`;
  expect([...after].filter(([, v]) => v.length > 1).map(([k]) => k)).toEqual([lateKey]);
  expect(new Set(all.map((r) => r.eventId)).size).toBe(all.length);
  const [, revised] = after.get(lateKey)!;
  const truth = aggregatesOf([...events, ...late], 0).get(lateKey)!;
  const segment = (template.smugglingIncident as { routeSegment: string }).routeSegment;
  expect(revised?.find((c) => c.values[0] === segment)).toEqual({
    values: [segment],
    count: truth.find((c) => c.values[0] === segment)!.count,
    suppressed: false,
  });
  // A revision shows each cell as it now is, or hides it.
  for (const cell of revised!) {
    const exact = truth.find((c) => sameValues(c, cell))?.count;
    expect({ values: cell.values, shown: cell.suppressed ? 'hidden' : cell.count }).toEqual({
      values: cell.values,
      shown: cell.suppressed ? 'hidden' : exact,
    });
  }

  // Each aggregate shared was audited once, and nothing else was disclosed to FRONTEX.
  const audited: string[] = [];
  for await (const m of readAudit(jsm, 'MK')) {
    const e = decodeAuditEntry(m.data);
    if (e.kind === 'disclosure' && e.recipient === 'FRONTEX') audited.push(...(e.eventIds ?? [e.eventId]));
  }
  expect(audited.toSorted()).toEqual(all.map((r) => r.eventId).toSorted());

  // No vintage counts an event twice: no cell shows more than the events (and persons) there are.
  const counts = aggregatesOf([...events, ...late], 0);
  for (const r of all) {
    const exact = counts.get(r.key) ?? [];
    for (const cell of r.cells) {
      const limit = exact.find((c) => sameValues(c, cell))?.count ?? 0;
      expect({ key: r.key, values: cell.values, over: cell.count > limit }).toEqual({
        key: r.key,
        values: cell.values,
        over: false,
      });
    }
  }
}

/** Resolves, with WBX_EVENTS's count, once it holds a tenth of the file. */
async function aTenthStored(jsm: JetStreamManager): Promise<number> {
  return until(
    'a tenth of the file stored',
    async () => {
      const n = (await stored(jsm)) ?? 0;
      return n >= COUNT / 10 && n;
    },
    60_000,
    20,
  );
}

const sameValues = (a: AggregateCell, b: AggregateCell): boolean =>
  JSON.stringify(a.values) === JSON.stringify(b.values);

describe('aggregates for FRONTEX from one MK gateway process', () => {
  it('equal the counts from the file through a kill -9 of the gateway and a re-run of the ingest', async () => {
    const bed = await testBed('aggregate-kill-gateway');
    const mk = await bed.startMk(BACKFILL_SETTLE);
    const first = startIngest(mk.ready.grpc, bed.file);
    const before = await aTenthStored(bed.jsm);
    expect(before).toBeLessThan(COUNT);
    await mk.kill('SIGKILL');
    expect(await first.exit(60_000)).not.toBe(0);
    const atKill = (await stored(bed.jsm)) ?? 0;
    expect(atKill).toBeLessThan(COUNT);

    const again = await bed.startMk(BACKFILL_SETTLE);
    const rerun = await ingestAll(again.ready.grpc, bed.file);
    expect(rerun.accepted + rerun.duplicates).toBe(COUNT);
    expect(rerun.duplicates).toBeGreaterThanOrEqual(atKill);
    await checkAggregates(bed, again);
  }, 180_000);

  it('equal the counts from the file through a kill -9 of the nats-server and a re-run of the ingest', async () => {
    const bed = await testBed('aggregate-kill-nats');
    const mk = await bed.startMk(BACKFILL_SETTLE);
    const first = startIngest(mk.ready.grpc, bed.file);
    const before = await aTenthStored(bed.jsm);
    expect(before).toBeLessThan(COUNT);
    await bed.nats.kill('SIGKILL');
    await bed.nats.restart();
    // The first run ends one way or the other (its stream may survive the reconnect).
    await first.exit(120_000);

    const rerun = await ingestAll(mk.ready.grpc, bed.file);
    expect(rerun.accepted + rerun.duplicates).toBe(COUNT);
    expect(rerun.duplicates).toBeGreaterThan(0);
    await checkAggregates(bed, mk);
  }, 180_000);
});
