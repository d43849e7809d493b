import { createHash, randomBytes } from 'node:crypto';

import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AuditLog } from '@wbx/audit';
import type { MatchRequest, MatchResponse } from '@wbx/proto';
import { holdToken } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { ExchangeContext } from '../../src/exchange/access.js';
import { MatchIndex, runMatch } from '../../src/exchange/match.js';
import { Pseudonyms, subjectRefsOf } from '../../src/exchange/pseudonyms.js';
import { EVENTS_STREAM, MATCH_BUCKET } from '../../src/nats-layout.js';
import { ensureStream, eventsStreamConfig, openBucket } from '../../src/streams.js';
import { agreement, eventsOf, openAudit, partners, quiet, type Partners } from '../support/fixtures.js';

// RS receives MK's irregular crossings with the persons' (keyed) references; it may Match them.
const AGREEMENT = agreement({
  id: 'MK-RS-M',
  provider: 'MK',
  recipient: 'RS',
  terms: [
    {
      types: ['crossing.irregular'],
      mode: 'records',
      fields: ['routeSegment', 'persons.subjectRef'],
      retentionDays: 30,
    },
  ],
});
const EVENTS = eventsOf('crossing.irregular', 360, 'match-index');

/** One gateway replica's view of the shared NATS: its own connection, bucket handle and index. */
interface Replica {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kv: KV;
  readonly index: MatchIndex;
  readonly ctx: ExchangeContext;
}

let nats: NatsServer;
let p: Partners;
let secret: Buffer;
const open: NatsConnection[] = [];
const audits: AuditLog[] = [];
/** Each published event's id by the subject references of its persons. */
const byRef = new Map<string, Set<string>>();

beforeEach(async () => {
  nats = await startNatsServer();
  p = await partners(['MK', 'RS']);
  secret = randomBytes(32);
  byRef.clear();
});

afterEach(async () => {
  for (const audit of audits.splice(0)) await audit.close();
  for (const nc of open.splice(0)) await nc.close();
  await nats[Symbol.asyncDispose]();
});

async function replica(): Promise<Replica> {
  const nc = await connect({ servers: nats.url });
  open.push(nc);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureStream(
    jsm,
    eventsStreamConfig('MK', { maxAge: 0, maxBytes: -1, duplicateWindow: 60_000, replicas: 1 }),
  );
  const kv = await openBucket(js, jsm, MATCH_BUCKET, { replicas: 1, history: 1 });
  const index = new MatchIndex(js, jsm, kv, new Pseudonyms(secret), () => [AGREEMENT]);
  const audit = await openAudit(js, jsm, p);
  audits.push(audit);
  const ctx: ExchangeContext = {
    partner: 'MK',
    manifest: () => p.manifest,
    agreements: () => [AGREEMENT],
    inactive: () => [],
    audit,
    log: quiet(),
    now: () => new Date(),
  };
  return { nc, js, jsm, kv, index, ctx };
}

/** Seals and stores events [from, to) of EVENTS in WBX_EVENTS, noting the references they mention. */
async function store(r: Replica, from: number, to: number, events = EVENTS): Promise<void> {
  const sealer = p.sealer('MK');
  for (const e of events.slice(from, to)) {
    const token = sealer.seal(e);
    await r.js.publish(`wbx.evt.MK.${e.type}`, token, { msgID: e.eventId });
    for (const ref of subjectRefsOf(holdToken(token, Number.MAX_SAFE_INTEGER).claims)) {
      if (ref === '') continue;
      const ids = byRef.get(ref) ?? new Set();
      ids.add(e.eventId);
      byRef.set(ref, ids);
    }
  }
}

/** A Match for every reference seen so far (keyed as RS holds them) and one nobody has. */
function request(): MatchRequest {
  const keyed = new Pseudonyms(secret);
  const refs = [...byRef.keys()].map((r) => keyed.keyed(AGREEMENT.body.id, r));
  return {
    agreementId: AGREEMENT.body.id,
    purpose: 'border-management',
    subjectRefs: [...refs, 'f'.repeat(64)],
  };
}

/** The answer as sets: keyed reference → sorted event ids. */
function answer(res: MatchResponse): Map<string, string[]> {
  return new Map(res.hits.map((h) => [h.subjectRef, h.events.map((e) => e.eventId).sort()]));
}

/** What Match must answer: every reference with all the events mentioning it. */
function expected(): Map<string, string[]> {
  const keyed = new Pseudonyms(secret);
  return new Map(
    [...byRef].map(([ref, ids]) => [keyed.keyed(AGREEMENT.body.id, ref), [...ids].sort()] as const),
  );
}

async function match(r: Replica): Promise<MatchResponse> {
  return runMatch(r.ctx, r.index, 'RS', AGREEMENT, 'border-management', request());
}

/** Every event id listed for every reference in the bucket, by reference key (duplicates kept). */
async function listed(kv: KV): Promise<string[][]> {
  const byKey = new Map<string, string[]>();
  for await (const key of await kv.keys('r.>')) {
    const ref = key.split('.').slice(0, 3).join('.');
    const e = await kv.get(key);
    byKey.set(ref, [...(byKey.get(ref) ?? []), ...(e?.json<{ e: string }[]>() ?? []).map((x) => x.e)]);
  }
  return [...byKey.keys()].sort().map((k) => byKey.get(k) ?? []);
}

/** Counts the reads of single messages of WBX_EVENTS (plain or direct get) on the server. */
async function countEventReads(): Promise<{ count: () => Promise<number> }> {
  const nc = await connect({ servers: nats.url });
  open.push(nc);
  let n = 0;
  const subjects = [
    `$JS.API.STREAM.MSG.GET.${EVENTS_STREAM}`,
    `$JS.API.DIRECT.GET.${EVENTS_STREAM}`,
    `$JS.API.DIRECT.GET.${EVENTS_STREAM}.>`,
  ];
  for (const subject of subjects)
    nc.subscribe(subject, {
      callback: () => {
        n += 1;
      },
    });
  await nc.flush();
  // Everything the server received before the flush's PONG has been delivered here.
  return { count: async () => (await nc.flush(), n) };
}

describe('the Match index in the wbx_match bucket', () => {
  it('is shared: a second replica answers the same without reading WBX_EVENTS, and each adds only what is new', async () => {
    const a = await replica();
    const b = await replica();
    await store(a, 0, 300);
    const first = await match(a);
    expect(a.index.eventsRead).toBe(300);
    expect(answer(first)).toEqual(expected());
    expect(first.checked).toBe(byRef.size + 1);

    // The other replica (or this one restarted) finds the index ready.
    expect(answer(await match(b))).toEqual(expected());
    expect(b.index.eventsRead).toBe(0);

    // Events stored later are read once, by whichever replica answers next.
    await store(b, 300, 360);
    expect(answer(await match(b))).toEqual(expected());
    expect(b.index.eventsRead).toBe(60);
    expect(answer(await match(a))).toEqual(expected());
    expect(a.index.eventsRead).toBe(300);
  });

  it('lists each event once when two replicas fill it at the same time and when it is read again', async () => {
    const a = await replica();
    const b = await replica();
    await store(a, 0, 360);
    await Promise.all([a.index.update(), b.index.update()]);
    const once = await listed(a.kv);
    expect(once.every((ids) => new Set(ids).size === ids.length)).toBe(true);
    expect(once.flat().sort()).toEqual([...byRef.values()].flatMap((ids) => [...ids]).sort());

    // A cursor lost (as after a crash between the writes and the cursor): all is read again, nothing doubled.
    for await (const key of await a.kv.keys('c.>')) await a.kv.delete(key);
    const c = await replica();
    await c.index.update();
    expect(c.index.eventsRead).toBe(360);
    expect(await listed(c.kv)).toEqual(once);
    expect(answer(await match(c))).toEqual(expected());
  });

  it('keeps no readable subject reference in its keys or values', async () => {
    const a = await replica();
    await store(a, 0, 60);
    await a.index.update();
    const { state } = await a.jsm.streams.info(`KV_${MATCH_BUCKET}`);
    expect(state.messages).toBeGreaterThan(0);
    const raw: string[] = [];
    for await (const key of await a.kv.keys()) raw.push(key, (await a.kv.get(key))?.string() ?? '');
    const text = raw.join('\n');
    for (const ref of byRef.keys()) expect(text).not.toContain(ref);
    expect((await a.jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(60);
  });

  it('neither indexes nor fetches events of types the agreement does not give references of', async () => {
    const a = await replica();
    await store(a, 0, 60);
    const covered = new Set(byRef.keys());
    const coveredIds = new Set([...byRef.values()].flatMap((ids) => [...ids]));
    // Asylum applications: a type the agreement does not cover; their persons' references are new.
    const others = eventsOf('asylum.application', 40, 'match-other-types');
    await store(a, 0, others.length, others);
    const outside = [...byRef.keys()].filter((r) => !covered.has(r));
    expect(outside.length).toBeGreaterThan(0);
    const otherIds = new Set(others.map((e) => e.eventId));
    const keyed = new Pseudonyms(secret);
    const reads = await countEventReads();

    const res = await runMatch(a.ctx, a.index, 'RS', AGREEMENT, 'border-management', {
      agreementId: AGREEMENT.body.id,
      purpose: 'border-management',
      subjectRefs: outside.map((r) => keyed.keyed(AGREEMENT.body.id, r)),
    });
    expect(res.hits).toEqual([]);
    expect(await reads.count()).toBe(0);
    expect((await listed(a.kv)).flat().filter((id) => otherIds.has(id))).toEqual([]);

    // The covered references still hit, and only their events are read.
    const hit = await runMatch(a.ctx, a.index, 'RS', AGREEMENT, 'border-management', {
      agreementId: AGREEMENT.body.id,
      purpose: 'border-management',
      subjectRefs: [...covered].map((r) => keyed.keyed(AGREEMENT.body.id, r)),
    });
    const hitIds = hit.hits.flatMap((h) => h.events.map((e) => e.eventId));
    expect(new Set(hitIds)).toEqual(coveredIds);
    expect(await reads.count()).toBe(hitIds.length);
  });

  it("keeps a reference's events in bounded values, and finds them all, when it appears in many", async () => {
    const a = await replica();
    const b = await replica();
    // One person in each of 150 events.
    const person = EVENTS.flatMap((e) => e.crossingIrregular?.persons ?? []).find((x) => x.subjectRef)!;
    const many = EVENTS.slice(0, 150).map((e) => ({
      ...e,
      crossingIrregular: { ...e.crossingIrregular!, persons: [person] },
    }));
    await store(a, 0, many.length, many);
    await Promise.all([a.index.update(), b.index.update()]);
    for await (const key of await a.kv.keys('r.>')) {
      expect((await a.kv.get(key))?.json<unknown[]>().length).toBeLessThanOrEqual(64);
    }
    const once = await listed(a.kv);
    expect(once).toHaveLength(1);
    expect([...once[0]!].sort()).toEqual(many.map((e) => e.eventId).sort());
    expect(answer(await match(b))).toEqual(expected());
  });

  it('indexes again an agreement whose index was written in the first layout', async () => {
    const a = await replica();
    await store(a, 0, 60);
    // The first layout: `c.<tag>` says complete up to the last event, `r.<tag>.<ref>` lists nothing.
    const tag = createHash('sha256').update(AGREEMENT.body.id).digest('hex').slice(0, 32);
    await a.kv.put(`c.${tag}`, '60');
    const keyed = new Pseudonyms(secret);
    for (const ref of byRef.keys()) await a.kv.put(`r.${tag}.${keyed.keyed(AGREEMENT.body.id, ref)}`, '[]');
    expect(answer(await match(a))).toEqual(expected());
    expect(a.index.eventsRead).toBe(60);
  });
});
