// Issue #14, "Show it": two MK gateway replicas (real `wbx gateway` processes) on a three-node JetStream
// cluster with `streams.replicas: 3`, sharing records with RS and aggregates with FRONTEX. 20,000 generated
// events are ingested, split across both replicas, while a cluster node and then one replica are killed -9
// and restarted. Afterwards every event is stored once, RS's inbox holds each shared event once, FRONTEX's
// aggregates equal the counts taken from the generated events, MK's audit chain verifies with one entry
// per disclosure, Match answers the same through both replicas, and a readmission case opened through one
// replica is answered and read through the other.
//
// WBX_CLUSTER_LOGS=<dir> keeps the replicas' logs there.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import {
  aggregate,
  MISSING_VALUE,
  periodBounds,
  type AggregateCell,
  type AggregateTerm,
  type PolicyEvent,
} from '@wbx/agreements';
import { decodeAuditEntry, type DisclosureEntry } from '@wbx/audit';
import { wbx, wbxBinary } from '@wbx/cli';
import {
  certSha256,
  makeTestPki,
  startFederation,
  type CertFiles,
  type Federation,
  type TestPki,
} from '@wbx/fixtures';
import { GATEWAY_NKEY_FILE, Pseudonyms, writeAccessFiles, type Gateway } from '@wbx/gateway';
import { Event, type MatchResponse } from '@wbx/proto';
import { importPrivateJwk } from '@wbx/registry';
import { uuidV7, validateEvent, type EventType, type ValidEvent } from '@wbx/schema';
import { createSealer, holdToken } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import {
  freePorts,
  startGatewayProcess,
  startNatsCluster,
  until,
  type GatewayProcess,
  type NatsCluster,
} from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  exchangeClients,
  match,
  unary,
  type Clients,
  type ReadmissionCase,
} from '../support/exchange-client.js';
import { submitRetrying } from '../support/submit.js';
import { readStream, shuffled } from './_support.js';

const EVENTS = 20_000;
const HOUR = 3_600_000;

const RECORDS_ID = 'MK-RS-REC';
const READMISSION_ID = 'MK-RS-RA';
const AGGREGATES_ID = 'MK-FRONTEX-AGG';
/** What RS receives as records: each term's type and fields. */
const RS_TERMS = [
  { types: ['smuggling.incident'], fields: ['occurredAt', 'routeSegment', 'migrantsCount'] },
  { types: ['asylum.application'], fields: ['occurredAt', 'person.citizenship', 'person.subjectRef'] },
];
/** What RS receives: the records terms' types, and readmission responses (MK-RS-RA). */
const RS_TYPES = [...RS_TERMS.flatMap((t) => t.types), 'readmission.response'];
const MATCH_TYPE = 'asylum.application';
/** FRONTEX's aggregate term. */
const FRONTEX_TERM: AggregateTerm = {
  mode: 'aggregate',
  types: ['crossing.irregular'],
  dimensions: ['persons.citizenship', 'routeSegment'],
  period: 'week',
  minCell: 5,
  retentionDays: 30,
};

let pki: TestPki;
let fed: Federation;
let cluster: NatsCluster;
const certs: Record<string, CertFiles> = {};
/** MK's NATS access (the cluster's accounts), as `wbx nats-config` writes it. */
let accessDir: string;
/** A client of MK's account on the cluster, as MK's gateway user. */
let mkNats: NatsConnection;
let events: ValidEvent[];
let rs: Gateway;
let frontex: Gateway;
/** The two MK replicas: their config files, fixed ports, and the running processes. */
const replicas: { config: string; grpc: string; exchange: string; process?: GatewayProcess }[] = [];
let secret: Buffer;
/** The event id of MK's sealed answer to RS's readmission request. */
let answeredResponseId = '';
/** What beforeAll started, stopped in reverse order. */
const cleanup = new AsyncDisposableStack();

/** The events' body (under the type's camelCase key) flattened as the policy sees them. */
function policyEvent(e: ValidEvent): PolicyEvent {
  const key = e.type.replace(/\.(\w)/g, (_, c: string) => c.toUpperCase());
  const body = (e as unknown as Record<string, Record<string, unknown>>)[key] ?? {};
  return {
    type: e.type,
    origin: e.origin,
    claims: { occurredAt: e.occurredAt, recordedAt: e.recordedAt, ...body },
  };
}

/** The raw subject references an event's persons carry. */
function rawRefs(e: ValidEvent): string[] {
  const { claims } = policyEvent(e);
  const persons = Array.isArray(claims.persons) ? claims.persons : claims.person ? [claims.person] : [];
  return (persons as { subjectRef?: string }[]).flatMap((p) => (p.subjectRef ? [p.subjectRef] : []));
}

async function startReplica(i: number): Promise<GatewayProcess> {
  const r = replicas[i];
  if (r === undefined) throw new RangeError(`no replica ${i}`);
  // Started once: a NATS request that times out at start (under load, a node down, the other replica
  // creating the same streams) is waited for by the gateway, not fatal.
  r.process = await startGatewayProcess(wbxBinary(), ['--config', r.config], {
    env: { WBX_LOG_LEVEL: process.env.WBX_TEST_LOG ?? 'warn' },
    timeoutMs: 90_000,
  });
  return r.process;
}

async function writeReplicaConfig(i: number, ports: readonly number[]): Promise<void> {
  const data = join(fed.dir, 'data', `MK-${i}`);
  // Every replica keys subject references with the same secret (README, "Running more than one replica").
  await mkdir(join(data, 'exchange'), { recursive: true });
  await writeFile(join(data, 'exchange', 'subject-ref.secret'), `${secret.toString('base64url')}\n`, {
    mode: 0o600,
  });
  const grpc = `127.0.0.1:${ports[0] ?? 0}`;
  const exchange = `127.0.0.1:${ports[1] ?? 0}`;
  const config = {
    partner: 'MK',
    key: fed.identity.keyFile('MK'),
    manifest: fed.identity.manifestFile,
    data,
    agreements: fed.agreementsDir('MK'),
    nats: {
      url: cluster.urls.join(','),
      nkeyFile: join(accessDir, GATEWAY_NKEY_FILE),
      publishTimeout: 5_000,
    },
    streams: { replicas: 3 },
    grpc: { listen: grpc, insecure: true },
    http: { listen: '127.0.0.1:0' },
    ingest: { sealWorkers: 0 },
    share: { agreementsPoll: 200, flushEvery: 500, aggregateGrace: 0 },
    audit: { checkpointInterval: 1_000 },
    exchange: {
      listen: exchange,
      tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.caA },
    },
  };
  const file = join(fed.dir, `MK-${i}.json`);
  await writeFile(file, JSON.stringify(config, null, 2));
  replicas[i] = { config: file, grpc, exchange };
}

const log = (what: string, since: number): void => {
  process.stderr.write(`[cluster] ${what}: ${((Date.now() - since) / 1000).toFixed(1)} s\n`);
};

beforeAll(async () => {
  pki = cleanup.use(await makeTestPki());
  for (const p of ['MK', 'RS', 'FRONTEX']) certs[p] = await pki.issueClient(p);
  const pins: Record<string, string[]> = {};
  for (const p of ['MK', 'RS', 'FRONTEX']) pins[p] = [await certSha256((certs[p] as CertFiles).cert)];
  fed = cleanup.use(await startFederation(['MK', 'RS', 'FRONTEX'], pins));
  const base = {
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 30 * 24 * HOUR).toISOString(),
    provider: 'MK',
  };
  await fed.agree({
    ...base,
    id: RECORDS_ID,
    recipient: 'RS',
    purposes: ['border-management'],
    terms: RS_TERMS.map((t) => ({ ...t, mode: 'records', retentionDays: 30 })),
  });
  await fed.agree({
    ...base,
    id: READMISSION_ID,
    recipient: 'RS',
    purposes: ['return-readmission'],
    readmission: { answerWithinHours: 1 },
    terms: [{ types: ['readmission.response'], mode: 'records', fields: ['outcome'], retentionDays: 30 }],
  });
  await fed.agree({
    ...base,
    id: AGGREGATES_ID,
    recipient: 'FRONTEX',
    purposes: ['risk-analysis'],
    terms: [FRONTEX_TERM],
  });

  // MK's cluster: every node with MK's accounts (its own with JetStream, one per recipient).
  accessDir = join(fed.dir, 'mk-nats-access');
  const access = await writeAccessFiles(accessDir, ['FRONTEX', 'RS']);
  cluster = cleanup.use(
    await startNatsCluster(3, { config: await readFile(access.configFile, 'utf8'), startTimeout: 120_000 }),
  );
  const seed = (await readFile(join(accessDir, GATEWAY_NKEY_FILE), 'utf8')).trim();
  mkNats = await connect({
    servers: [...cluster.urls],
    authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
    maxReconnectAttempts: -1,
  });
  cleanup.defer(() => mkNats.close());
  // With accounts, startNatsCluster waits for the meta leader only: here, for JetStream in MK's account.
  await until(
    "JetStream in MK's account",
    async () => {
      const jsm = await jetstreamManager(mkNats, { timeout: 2_000 }).catch(() => undefined);
      return (await jsm?.getAccountInfo().catch(() => undefined)) !== undefined;
    },
    60_000,
  );
  cleanup.defer(async () => {
    for (const [i, r] of replicas.entries()) {
      if (process.env.WBX_CLUSTER_LOGS !== undefined)
        await writeFile(join(process.env.WBX_CLUSTER_LOGS, `replica-${i}.log`), r.process?.stderr() ?? '');
      await r.process?.stop();
    }
  });

  secret = randomBytes(32);
  const ports = await freePorts(4);
  await writeReplicaConfig(0, ports.slice(0, 2));
  await writeReplicaConfig(1, ports.slice(2, 4));
  const t0 = Date.now();
  // Both at once: they race to create every stream, bucket and consumer.
  await Promise.all([startReplica(0), startReplica(1)]);
  log('two MK replicas ready', t0);

  // RS and FRONTEX read MK's share streams through a node that is never killed.
  const receive = (p: string) => ({
    settings: { receive: [{ partner: 'MK', url: cluster.urls[2], nkeyFile: join(accessDir, `${p}.nkey`) }] },
  });
  rs = await fed.start('RS', receive('RS'));
  frontex = await fed.start('FRONTEX', receive('FRONTEX'));

  const generated = [
    ...generateEvents({
      partner: 'MK',
      count: EVENTS,
      seed: 'replicas',
      from: new Date('2024-01-01T00:00:00Z'),
      to: new Date('2024-03-01T00:00:00Z'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error(`invalid generated event: ${JSON.stringify(r.violations)}`);
    return r.event;
  });
  // In no order of time: every period keeps receiving events until the end of the run.
  events = shuffled(generated, 'replicas');
}, 180_000);

afterAll(async () => {
  await cleanup.disposeAsync();
});

describe('two MK replicas on a three-node JetStream cluster, a node and a replica killed -9', () => {
  it(`ingests ${EVENTS} events split across both replicas through both kills`, async () => {
    const t0 = Date.now();
    let stored = 0;
    const deadline = Date.now() + 240_000;
    const halves = [0, 1].map((h) => events.filter((_, i) => i % 2 === h).map((e) => Event.fromJSON(e)));
    const ingest = halves.map((half, i) =>
      submitRetrying(replicas[i]?.grpc ?? '', half, 32, deadline, () => (stored += 1)),
    );
    const outcome = Promise.all(ingest).then(
      (done) => ({ done }),
      (error: unknown) => ({ error }),
    );

    await until('a quarter of the events stored', () => stored >= EVENTS / 4, 120_000);
    log(`${stored} events stored`, t0);
    await cluster.kill(0);
    const killedAt = stored;
    await until('more events stored with a node down', () => stored >= killedAt + EVENTS / 10, 120_000);
    await cluster.restart(0);
    await cluster.waitForJetStream();
    log(`node n0 killed at ${killedAt} and back at ${stored}`, t0);

    await until('60 % of the events stored', () => stored >= (EVENTS * 3) / 5, 120_000);
    const victim = replicas[1]?.process;
    expect(await victim?.kill('SIGKILL')).toBe('SIGKILL');
    if (process.env.WBX_CLUSTER_LOGS !== undefined)
      await writeFile(join(process.env.WBX_CLUSTER_LOGS, 'replica-1-killed.log'), victim?.stderr() ?? '');
    const replicaKilledAt = stored;
    await startReplica(1);
    log(`replica 1 killed at ${replicaKilledAt} and back at ${stored}`, t0);

    const ended = await outcome;
    if ('error' in ended) throw ended.error;
    expect(stored).toBe(EVENTS);
    expect(replicaKilledAt).toBeLessThan(EVENTS);
    // The kill cut calls in flight at replica 1: they were retried, with the same event ids.
    expect(ended.done[1]?.retries).toBeGreaterThan(0);
    log(`${EVENTS} events ingested`, t0);
  }, 300_000);

  it('stores each event once in WBX_EVENTS and shares it: wbx-share has acknowledged the last', async () => {
    const t0 = Date.now();
    const jsm = await jetstreamManager(mkNats, { checkAPI: false });
    await until(
      'every event shared',
      async () => {
        const last = (await jsm.streams.info('WBX_EVENTS')).state.last_seq;
        const c = await jsm.consumers.info('WBX_EVENTS', 'wbx-share');
        return last > 0 && c.ack_floor.stream_seq === last && c.num_pending === 0 && c.num_ack_pending === 0;
      },
      180_000,
    );
    log('every event shared', t0);
    const stored = await until('WBX_EVENTS read', () =>
      readStream(mkNats, 'WBX_EVENTS').catch(() => undefined),
    );
    expect(stored.map((m) => m.msgId).toSorted()).toEqual(events.map((e) => e.eventId).toSorted());
  }, 240_000);

  it("puts each shared event in RS's inbox once", async () => {
    const expected = events.filter((e) => RS_TYPES.includes(e.type)).map((e) => e.eventId);
    const jsm = await jetstreamManager(rs.nats);
    await until(
      "RS's inbox complete",
      async () => (await jsm.streams.info('WBX_INBOX')).state.messages >= expected.length,
      120_000,
    );
    const inbox = await readStream(rs.nats, 'WBX_INBOX');
    const ids = inbox.map((m) => jti(m.data));
    expect(ids.toSorted()).toEqual(expected.toSorted());
  }, 180_000);

  it('gives FRONTEX aggregates equal to the counts taken from the generated events, small cells suppressed', async () => {
    // Counted here, from the generated events: persons per (week, citizenship, route segment).
    const counts = new Map<string, Map<string, number>>();
    const sourceType = FRONTEX_TERM.types[0] as EventType;
    for (const e of events) {
      if (e.type !== sourceType) continue;
      const body = policyEvent(e).claims as { persons: { citizenship?: string }[]; routeSegment?: string };
      const { period } = periodBounds(new Date(e.occurredAt), FRONTEX_TERM.period);
      const cells = counts.get(period) ?? new Map<string, number>();
      counts.set(period, cells);
      for (const p of body.persons) {
        const k = JSON.stringify([p.citizenship ?? MISSING_VALUE, body.routeSegment ?? MISSING_VALUE]);
        cells.set(k, (cells.get(k) ?? 0) + 1);
      }
    }
    const expected = new Map<string, AggregateCell[]>();
    for (const [period, cells] of counts) {
      const list = [...cells]
        .map(([k, count]) => ({ values: JSON.parse(k) as string[], count }))
        .sort((a, b) => (JSON.stringify(a.values) < JSON.stringify(b.values) ? -1 : 1))
        .map(({ values, count }) =>
          count < FRONTEX_TERM.minCell
            ? { values, count: 0, suppressed: true }
            : { values, count, suppressed: false },
        );
      expected.set(period, list);
    }
    // The same through @wbx/agreements' aggregate (the suppression the gateway applies).
    const policyEvents = events.map(policyEvent);
    for (const [period, cells] of expected) {
      const first = events.find(
        (e) => e.type === sourceType && periodBounds(new Date(e.occurredAt), 'week').period === period,
      );
      const body = aggregate(FRONTEX_TERM, sourceType, policyEvents, new Date(first?.occurredAt ?? ''));
      expect({ period, cells: body.cells }).toEqual({ period, cells });
    }
    const allCells = [...expected.values()].flat();
    expect(allCells.some((c) => c.suppressed)).toBe(true);
    expect(allCells.some((c) => !c.suppressed)).toBe(true);

    const t0 = Date.now();
    const received = async (): Promise<Map<string, { cells: unknown; eventIds: string[] }>> => {
      const byPeriod = new Map<string, { cells: unknown; eventIds: string[] }>();
      for (const m of await readStream(frontex.nats, 'WBX_INBOX')) {
        const { claims, eventId } = holdToken(m.data);
        const period = String(claims.period);
        const seen = byPeriod.get(period);
        byPeriod.set(period, { cells: claims.cells, eventIds: [...(seen?.eventIds ?? []), eventId] });
      }
      return byPeriod;
    };
    const want = Object.fromEntries([...expected].map(([p, cells]) => [p, cells]));
    const latest = (got: Map<string, { cells: unknown }>) =>
      Object.fromEntries([...got].map(([p, v]) => [p, v.cells]));
    // A period is published once settled (the default 2 s) and once the events the killed replica held
    // were delivered again (after wbx-share's 30 s ack_wait) and counted: wait for exactly that state.
    const got = await until(
      "FRONTEX's aggregates",
      async () => {
        const g = await received();
        return isDeepStrictEqual(latest(g), want) ? g : undefined;
      },
      120_000,
    ).catch(() => received());
    log('FRONTEX aggregates complete', t0);
    expect(latest(got)).toEqual(want);
    // One publication per period: no period was published while an event of it was still held.
    expect([...got.values()].map((v) => v.eventIds.length)).toEqual([...got.values()].map(() => 1));
  }, 180_000);

  describe('Exchange through either replica', () => {
    let rsAt: Clients[];
    let mkAt: Clients[];

    beforeAll(async () => {
      rsAt = await Promise.all(replicas.map((r) => exchangeClients(pki, r.exchange, certs.RS as CertFiles)));
      mkAt = await Promise.all(replicas.map((r) => exchangeClients(pki, r.exchange, certs.MK as CertFiles)));
    });
    afterAll(() => {
      for (const c of [...rsAt, ...mkAt]) c.close();
    });

    it('answers Match the same through both replicas: hits and no-hits as the generated events say', async () => {
      const pseudonyms = new Pseudonyms(secret);
      const agreed = new Map<string, string[]>();
      const elsewhere = new Set<string>();
      for (const e of events) {
        for (const ref of rawRefs(e)) {
          if (e.type === MATCH_TYPE) agreed.set(ref, [...(agreed.get(ref) ?? []), e.eventId]);
          else elsewhere.add(ref);
        }
      }
      // Agreed references, references only in events RS does not get, and unknown ones.
      const hits = [...agreed.keys()].slice(0, 20);
      const notAgreed = [...elsewhere].filter((r) => !agreed.has(r)).slice(0, 10);
      const unknown = Array.from({ length: 5 }, () => randomBytes(32).toString('hex'));
      expect(hits).toHaveLength(20);
      expect(notAgreed).toHaveLength(10);
      const keyed = (r: string): string => pseudonyms.keyed(RECORDS_ID, r);
      const subjectRefs = [...hits, ...notAgreed, ...unknown].map(keyed);
      const expected = hits
        .map((r) => ({
          subjectRef: keyed(r),
          events: (agreed.get(r) ?? []).map((eventId) => ({ eventId, type: MATCH_TYPE })).toSorted(byId),
        }))
        .toSorted((a, b) => a.subjectRef.localeCompare(b.subjectRef));
      const t0 = Date.now();
      const answers: MatchResponse[] = [];
      for (const c of rsAt) {
        answers.push(
          await match(c.exchange, { agreementId: RECORDS_ID, purpose: 'border-management', subjectRefs }),
        );
        log('a Match', t0);
      }
      const normal = (r: MatchResponse) => ({
        checked: r.checked,
        hits: r.hits
          .map((h) => ({ subjectRef: h.subjectRef, events: h.events.toSorted(byId) }))
          .toSorted((a, b) => a.subjectRef.localeCompare(b.subjectRef)),
      });
      expect(normal(answers[0] as MatchResponse)).toEqual({ checked: subjectRefs.length, hits: expected });
      expect(normal(answers[1] as MatchResponse)).toEqual(normal(answers[0] as MatchResponse));
    }, 120_000);

    it('answers through one replica a readmission request made through the other, and reads it there', async () => {
      const key = importPrivateJwk(JSON.parse(await readFile(fed.identity.keyFile('RS'), 'utf8')));
      const now = new Date();
      const requestId = uuidV7(now.getTime());
      const r = validateEvent({
        eventId: requestId,
        origin: 'RS',
        type: 'readmission.request',
        schemaVersion: 1,
        occurredAt: now.toISOString(),
        recordedAt: now.toISOString(),
        readmissionRequest: {
          requestRef: 'RS-RA-2026-000001',
          requestingState: 'RS',
          requestedState: 'MK',
          person: {
            subjectRef: randomBytes(32).toString('hex'),
            citizenship: 'MKD',
            sex: 'F',
            ageBand: '18-34',
            unaccompaniedMinor: false,
          },
          evidence: ['travel-document-copy'],
          deadline: new Date(now.getTime() + HOUR).toISOString(),
        },
      });
      if (!r.ok) throw new Error(JSON.stringify(r.violations));
      const sealedRequest = createSealer({ issuer: 'RS', kid: key.kid, privateKey: key.key }).seal(r.event, {
        now,
      });
      const [rsAtA, rsAtB] = rsAt as [Clients, Clients];
      const [, mkAtB] = mkAt as [Clients, Clients];
      const submit = (c: Clients) =>
        unary<ReadmissionCase>((cb) =>
          c.exchange.submitReadmissionRequest(
            { agreementId: READMISSION_ID, purpose: 'return-readmission', sealedRequest },
            cb,
          ),
        );
      const get = (c: Clients) =>
        unary<ReadmissionCase>((cb) =>
          c.exchange.getReadmissionRequest({ agreementId: READMISSION_ID, purpose: '', requestId }, cb),
        );
      expect(await submit(rsAtA)).toMatchObject({ requestId, state: 'pending', duplicate: false });
      expect(await submit(rsAtB)).toMatchObject({ requestId, state: 'pending', duplicate: true });
      expect(await get(rsAtB)).toMatchObject({ requestId, state: 'pending', requestingState: 'RS' });
      const answered = await unary<ReadmissionCase>((cb) =>
        mkAtB.exchange.answerReadmissionRequest(
          { agreementId: READMISSION_ID, purpose: '', requestId, outcome: 'accepted', reason: '' },
          cb,
        ),
      );
      expect(answered).toMatchObject({ state: 'accepted', duplicate: false });
      expect(answered.sealedResponse).not.toBe('');
      // MK keeps its answer as its own event and shares it with RS under the readmission agreement.
      answeredResponseId = holdToken(answered.sealedResponse).eventId;
      const inRsInbox = events.filter((e) => RS_TYPES.includes(e.type)).length + 1;
      const jsm = await jetstreamManager(rs.nats);
      await until(
        "the answer in RS's inbox",
        async () => (await jsm.streams.info('WBX_INBOX')).state.messages === inRsInbox,
        60_000,
      );
      for (const c of [rsAtA, rsAtB]) {
        expect(await get(c)).toMatchObject({
          requestId,
          state: 'accepted',
          sealedResponse: answered.sealedResponse,
        });
      }
    }, 60_000);
  });

  it("keeps MK's audit chain intact with one entry per disclosure", async () => {
    const verify = await wbx(
      [
        'audit',
        'verify',
        '--nats',
        cluster.urls[1] ?? '',
        '--nkey',
        join(accessDir, GATEWAY_NKEY_FILE),
        '--manifest',
        fed.identity.manifestFile,
        '--partner',
        'MK',
        '--json',
      ],
      { now: new Date() },
    );
    const result = JSON.parse(verify.stdout) as { ok: boolean; entries: number; disclosures: number };
    expect(result).toMatchObject({ ok: true });
    expect(verify.code).toBe(0);
    // The whole chain, as verified (WBX_AUDIT holds MK's chain only).
    const entries = (await readStream(mkNats, 'WBX_AUDIT')).map((m) => decodeAuditEntry(m.data));
    expect(entries).toHaveLength(result.entries);
    const disclosures = entries.filter((e): e is DisclosureEntry => e.kind === 'disclosure');
    expect(disclosures).toHaveLength(result.disclosures);
    const covered = (mode: string, recipient: string, agreementId: string) =>
      disclosures
        .filter((e) => e.mode === mode && e.recipient === recipient && e.agreementId === agreementId)
        .flatMap((e) =>
          mode === 'records' || mode === 'aggregate' ? (e.eventIds ?? [e.eventId]) : [e.eventId],
        );
    const ofTypes = (types: readonly string[]) =>
      events.filter((e) => types.includes(e.type)).map((e) => e.eventId);
    const records = ofTypes(RS_TERMS.flatMap((t) => t.types));
    expect(covered('records', 'RS', RECORDS_ID).toSorted()).toEqual(records.toSorted());
    const responses = [...ofTypes(['readmission.response']), answeredResponseId];
    expect(covered('records', 'RS', READMISSION_ID).toSorted()).toEqual(responses.toSorted());
    const aggregates = (await readStream(frontex.nats, 'WBX_INBOX')).map((m) => holdToken(m.data).eventId);
    expect(covered('aggregate', 'FRONTEX', AGGREGATES_ID).toSorted()).toEqual(aggregates.toSorted());
    expect(covered('match', 'RS', RECORDS_ID)).toHaveLength(2);
    // No entry twice (a disclosure is audited once, whichever replica made it).
    const keys = disclosures.map((e) => JSON.stringify({ ...e, seq: 0, prev: '' }));
    expect(new Set(keys).size).toBe(keys.length);
  }, 120_000);
});

/** The event id (`jti`) a presentation's signed payload names. */
function jti(token: string): string {
  const payload = token.split('~')[0]?.split('.')[1] ?? '';
  return String((JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti?: unknown }).jti);
}

function byId(a: { eventId: string }, b: { eventId: string }): number {
  return a.eventId.localeCompare(b.eventId);
}
