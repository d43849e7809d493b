// pnpm bench share [--events N]
// The share worker's throughput on one MK gateway (in this process, embedded nats-server) with three
// recipients (RS, AL, FRONTEX; records agreements with different field sets): N pre-sealed events are
// published straight into WBX_EVENTS through the gateway's connection, and the clock stops when all three
// WBX_SHARE_* streams hold them. Baseline, same run: raw acknowledged JetStream publishes of the very
// presentation bytes the worker stored, into three streams of the same kind (pipelined, msgID set,
// WINDOW in flight). Also, to show which stage dominates, the worker's stages one at a time: deriving the
// presentations (read, policy, disclose; pure CPU), an acknowledged publish, an audit append.
// Subject references (issue 16): deriving with and without the per-agreement reference binding (keyed
// references signed into each presentation that carries persons' references), and verifying both kinds.
// `--subject-refs` grants persons.subjectRef to all three recipients, so the measured run makes a binding
// for every crossing and recipient; without it the agreements grant no reference, as before.
// The gateway derives a backlog's presentations on worker threads (as many as it seals on);
// WBX_INGEST_SEAL_WORKERS=0 keeps everything on its main thread, to compare (`derive_workers`).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { partnerPolicy } from '@wbx/agreements';
import { AUDIT_STREAM, AuditBatcher, AuditLog, auditSubject, type DisclosureRecord } from '@wbx/audit';
import { makeFederation } from '@wbx/fixtures';
import { presentRecord, Pseudonyms, type StreamRefs } from '@wbx/gateway';
import { decodeManifest, generateSigningKey, importPrivateJwk, type SignedManifest } from '@wbx/registry';
import { holdToken, verifyPresentation } from '@wbx/seal';

import { arg, cpuSeconds, machine, pipelined, round } from './_common.ts';
import {
  agreeRecords,
  sealAll,
  sharedEvents,
  startGateway,
  waitFor,
  type SealedEvent,
} from './_share-setup.ts';

const n = arg('events', 20_000);
const WINDOW = 512;
const WARM = 1_000;
const RECIPIENTS = ['RS', 'AL', 'FRONTEX'] as const;
const DAY_NS = 86_400_000_000_000;
const STAGE_SAMPLE = 2_000;
const SUBJECT_REFS = process.argv.includes('--subject-refs');
const REF = 'persons.subjectRef';

const messages = async (jsm: JetStreamManager, stream: string): Promise<number> =>
  (await jsm.streams.info(stream)).state.messages;

const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-share-'));
try {
  const fed = await makeFederation(dir, ['MK', ...RECIPIENTS]);
  for (const r of RECIPIENTS) await agreeRecords(fed, r, SUBJECT_REFS ? { 'crossing.irregular': [REF] } : {});
  const warm = sealAll(fed, sharedEvents(WARM, 'warm'));
  const sealed = sealAll(fed, sharedEvents(n, 'measured'));
  const avgTokenBytes = sealed.reduce((s, e) => s + e.token.length, 0) / n;

  const mk = await startGateway(fed, 'MK');
  const natsPid = Number(readFileSync(join(fed.dataDir('MK'), 'nats', 'nats-server.pid'), 'utf8').trim());
  const js = jetstream(mk.nats);
  const jsm = await jetstreamManager(mk.nats);
  try {
    if (mk.agreements.length !== RECIPIENTS.length) throw new Error('the agreements are not all active');
    const publishEvents = (list: readonly SealedEvent[]): Promise<number> =>
      pipelined(list, WINDOW, (e) =>
        js.publish(`wbx.evt.MK.${e.type}`, e.token, {
          msgID: e.id,
          expect: { streamName: 'WBX_EVENTS' },
          timeout: 30_000,
        }),
      );
    const allShared = async (count: number): Promise<boolean> => {
      for (const r of RECIPIENTS) if ((await messages(jsm, `WBX_SHARE_${r}`)) < count) return false;
      return true;
    };

    // Warm-up, then the measured run: publish N events into WBX_EVENTS, wait for all three share streams.
    await publishEvents(warm);
    await waitFor('the warm-up to be shared', () => allShared(WARM), 120_000, 20);
    const mkAudit = auditSubject('MK');
    const auditEntries = async (): Promise<number> =>
      (await jsm.streams.info(AUDIT_STREAM, { subjects_filter: mkAudit })).state.subjects?.[mkAudit] ?? 0;
    const audit0 = await auditEntries();
    const cpu = process.cpuUsage();
    const natsCpu = cpuSeconds(natsPid);
    const started = performance.now();
    const publishSeconds = await publishEvents(sealed);
    const done = await waitFor('every event to be shared', () => allShared(WARM + n), 600_000, 20);
    const shareSeconds = (done - started) / 1000;
    const used = process.cpuUsage(cpu);
    const gatewayCpuUs = (used.user + used.system) / n;
    const natsCpuUs = ((cpuSeconds(natsPid) - natsCpu) / n) * 1e6;
    const share = n / shareSeconds;
    const auditEntriesPerEvent = ((await auditEntries()) - audit0) / n;
    console.log(
      `share worker, 3 recipients: ${round(share)} events/s (${round(3 * share)} presentations/s); ` +
        `publishing into WBX_EVENTS alone took ${round(publishSeconds, 2)} s of ${round(shareSeconds, 2)} s`,
    );
    console.log(
      `  CPU per event: gateway process ${round(gatewayCpuUs)} µs, nats-server ${round(natsCpuUs)} µs; ` +
        `${round(auditEntriesPerEvent, 3)} audit entries per event (3 disclosures each)`,
    );

    // The presentations exactly as stored, per event in the order of the events.
    const presentations = new Map<string, Map<string, string>>();
    for (const r of RECIPIENTS) {
      const byId = new Map<string, string>();
      presentations.set(r, byId);
      const consumer = await js.consumers.get(`WBX_SHARE_${r}`, { opt_start_seq: WARM + 1 });
      let read = 0;
      while (read < n) {
        const batch = await consumer.fetch({ max_messages: 1_000, expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got += 1;
          byId.set(m.headers?.get('Nats-Msg-Id') ?? '', m.string());
        }
        if (got === 0) throw new Error(`WBX_SHARE_${r} ended after ${read} of ${n}`);
        read += got;
      }
    }
    const raw = sealed.flatMap((e, i) =>
      RECIPIENTS.map((r) => {
        const p = presentations.get(r)?.get(e.id);
        if (p === undefined) throw new Error(`event ${String(i)} was not shared with ${r}`);
        return { subject: `bench.raw.${r}.MK.${e.type}`, stream: `BENCH_RAW_${r}`, data: p, id: e.id };
      }),
    );
    const avgPresentationBytes = raw.reduce((s, p) => s + p.data.length, 0) / raw.length;
    for (const r of RECIPIENTS) {
      await jsm.streams.add({
        name: `BENCH_RAW_${r}`,
        subjects: [`bench.raw.${r}.>`],
        storage: StorageType.File,
        max_age: 30 * DAY_NS,
        duplicate_window: DAY_NS,
      });
    }
    const publishRaw = (list: typeof raw, prefix: string): Promise<number> =>
      pipelined(list, WINDOW, (p) =>
        js.publish(p.subject, p.data, {
          msgID: `${prefix}${p.id}`,
          expect: { streamName: p.stream },
          timeout: 30_000,
        }),
      );
    await publishRaw(raw.slice(0, 3 * WARM), 'warm-');
    const rawNatsCpu = cpuSeconds(natsPid);
    const rawSeconds = await publishRaw(raw, '');
    const rawNatsCpuUs = ((cpuSeconds(natsPid) - rawNatsCpu) / n) * 1e6;
    const rawRate = n / rawSeconds;
    console.log(
      `raw publish of the same presentations into three streams (window ${WINDOW}): ` +
        `${round(rawRate)} events/s ` +
        `(${round(3 * rawRate)} publishes/s); nats-server CPU ${round(rawNatsCpuUs)} µs per event`,
    );
    console.log(`ratio: ${round(share / rawRate, 3)} × raw (goal ≥ 0.5)`);

    // The share worker's own CPU floor: read the sealed event once, ask the policy, derive three
    // presentations from that one parse, as the worker does.
    const policy = partnerPolicy('MK', mk.agreements);
    const derive = (e: SealedEvent): number => {
      const held = holdToken(e.token);
      let bytes = 0;
      for (const g of policy.grants({ type: e.type, origin: 'MK', claims: held.claims }, new Date())) {
        bytes += held.present(g.paths).length;
      }
      return bytes;
    };
    for (const e of warm) derive(e);
    const deriveStarted = performance.now();
    for (const e of sealed) derive(e);
    const deriveUs = ((performance.now() - deriveStarted) / n) * 1000;
    console.log(
      `derive (one parse + policy + 3 presentations), pure CPU: ${round(deriveUs, 1)} µs per event`,
    );

    // The reference binding's cost: the same derivation with persons.subjectRef granted to every
    // recipient (each crossing's presentations then withhold MK's references and carry the keyed ones,
    // signed), against the plain one with it withheld; and verifying each kind as a recipient does.
    const mkKey = importPrivateJwk(JSON.parse(readFileSync(fed.identity.keyFile('MK'), 'utf8')));
    const refs: StreamRefs = {
      pseudonyms: new Pseudonyms(randomBytes(32)),
      signer: { kid: mkKey.kid, privateKey: mkKey.key },
    };
    const now = new Date();
    const bound: string[] = [];
    let bindings = 0;
    const deriveRefs = (e: SealedEvent, withBinding: boolean, keep: boolean): void => {
      const held = holdToken(e.token);
      for (const g of policy.grants({ type: e.type, origin: 'MK', claims: held.claims }, now)) {
        const paths = g.paths.filter((p) => p !== REF);
        let p: string;
        if (withBinding) {
          p = presentRecord(held, { ...g, paths: [...paths, REF] }, policy, refs, now);
          if (keep && p.at(-1) !== '~') bindings += 1;
        } else p = held.present(paths);
        if (keep && withBinding && bound.length < STAGE_SAMPLE) bound.push(p);
      }
    };
    const timeDerive = (withBinding: boolean): number => {
      for (const e of warm) deriveRefs(e, withBinding, false);
      const t0 = performance.now();
      for (const e of sealed) deriveRefs(e, withBinding, true);
      return ((performance.now() - t0) / n) * 1000;
    };
    const withoutBindingUs = timeDerive(false);
    const withBindingUs = timeDerive(true);
    const bindingsPerEvent = bindings / n;
    const signedManifest = JSON.parse(readFileSync(fed.identity.manifestFile, 'utf8')) as SignedManifest;
    const manifest = decodeManifest(signedManifest);
    const timeVerify = (list: readonly string[]): number => {
      for (const t of list.slice(0, 200)) verifyPresentation(t, { manifest, now });
      const t0 = performance.now();
      for (const t of list) verifyPresentation(t, { manifest, now });
      return ((performance.now() - t0) / list.length) * 1000;
    };
    // The same presentations with and without their binding (the disclosures are the same).
    const boundOnly = bound.filter((t) => t.at(-1) !== '~');
    const verifyPlainUs = timeVerify(boundOnly.map((t) => t.slice(0, t.lastIndexOf('~') + 1)));
    const verifyBoundUs = timeVerify(boundOnly);
    const perBindingUs = bindingsPerEvent > 0 ? (withBindingUs - withoutBindingUs) / bindingsPerEvent : 0;
    console.log(
      `reference binding: derive ${round(withoutBindingUs, 1)} µs per event without, ` +
        `${round(withBindingUs, 1)} µs with (${round(bindingsPerEvent, 2)} bindings per event, ` +
        `≈ ${round(perBindingUs, 1)} µs each); a recipient verifies a presentation in ` +
        `${round(verifyPlainUs, 1)} µs without, ${round(verifyBoundUs, 1)} µs with its binding` +
        (SUBJECT_REFS ? '; the measured run above made them' : '; the measured run above made none'),
    );

    // The worker's other two stages, one call at a time as it makes them: for each of the three grants an
    // acknowledged publish of the presentation, then an audit append (another origin's chain, same stream).
    const sample = raw.slice(0, 3 * Math.min(n, STAGE_SAMPLE));
    const seqStarted = performance.now();
    for (const p of sample) {
      await js.publish(p.subject, p.data, { msgID: `seq-${p.id}`, expect: { streamName: p.stream } });
    }
    const seqPublishUs = ((performance.now() - seqStarted) / sample.length) * 1000;
    const xk = importPrivateJwk(generateSigningKey('XK', new Date(Date.now() - 60_000)).privateJwk);
    const audit = await AuditLog.open({ js, jsm, origin: 'XK', signer: { kid: xk.kid, privateKey: xk.key } });
    const auditStarted = performance.now();
    const disclosure = (p: (typeof sample)[number], prefix = ''): DisclosureRecord => ({
      recipient: p.stream.slice('BENCH_RAW_'.length),
      agreementId: 'XK-bench',
      eventId: `${prefix}${p.id}`,
      eventType: p.subject.split('.').slice(4).join('.'),
      paths: ['occurredAt', 'routeSegment'],
      mode: 'records',
    });
    for (const p of sample) await audit.append(disclosure(p));
    const auditAppendUs = ((performance.now() - auditStarted) / sample.length) * 1000;
    // The same disclosures as the worker makes them: WINDOW at a time through its AuditBatcher.
    const batcher = new AuditBatcher(audit, { prefix: 'share' });
    const batchedFrom = audit.head.seq;
    const batchedSeconds = await pipelined(sample, WINDOW, (p) => batcher.append(disclosure(p, 'b-')));
    const auditBatchedUs = (batchedSeconds / sample.length) * 1e6;
    const batchedEntries = audit.head.seq - batchedFrom;
    await audit.close();
    const perEventUs = 1e6 / share;
    console.log(
      `stages, per event (3 recipients): derive ${round(deriveUs)} µs + 3 × acked publish ` +
        `${round(3 * seqPublishUs)} µs + 3 × audit append ${round(3 * auditAppendUs)} µs = ` +
        `${round(deriveUs + 3 * seqPublishUs + 3 * auditAppendUs)} µs; ` +
        `measured ${round(perEventUs)} µs per event`,
    );
    console.log(
      `audit appends through the AuditBatcher, ${WINDOW} in flight: ${round(3 * auditBatchedUs)} µs per event ` +
        `(${batchedEntries} entries for ${sample.length} disclosures)`,
    );

    console.log(
      JSON.stringify({
        bench: 'share',
        events: n,
        recipients: RECIPIENTS.length,
        window: WINDOW,
        derive_workers: mk.config.ingest.sealWorkers,
        share_events_per_s: round(share),
        share_presentations_per_s: round(3 * share),
        raw_publish_events_per_s: round(rawRate),
        raw_publishes_per_s: round(3 * rawRate),
        ratio_vs_raw_publish: round(share / rawRate, 3),
        floor: 'raw acked publish of the same presentations into three streams, events/s',
        floor_events_per_s: round(rawRate),
        ratio_vs_floor: round(share / rawRate, 3),
        goal_ratio: 0.5,
        audit_entries_per_event: round(auditEntriesPerEvent, 3),
        publish_into_events_s: round(publishSeconds, 2),
        share_s: round(shareSeconds, 2),
        cpu_us_per_event: {
          gateway_process: round(gatewayCpuUs),
          nats_server: round(natsCpuUs),
          raw_nats_server: round(rawNatsCpuUs),
          derive_only: round(deriveUs, 1),
        },
        stage_us_per_event: {
          derive: round(deriveUs),
          share_publishes_one_at_a_time: round(3 * seqPublishUs),
          audit_appends_one_at_a_time: round(3 * auditAppendUs),
          audit_appends_batched: round(3 * auditBatchedUs),
          measured: round(perEventUs),
        },
        ref_binding: {
          granted_in_measured_run: SUBJECT_REFS,
          derive_us_per_event_without: round(withoutBindingUs, 1),
          derive_us_per_event_with: round(withBindingUs, 1),
          bindings_per_event: round(bindingsPerEvent, 2),
          us_per_binding: round(perBindingUs, 1),
          verify_us_without: round(verifyPlainUs, 1),
          verify_us_with: round(verifyBoundUs, 1),
        },
        avg_token_bytes: round(avgTokenBytes),
        avg_presentation_bytes: round(avgPresentationBytes),
        load_avg: loadavg().map((l) => round(l, 1)),
        machine: machine(),
      }),
    );
  } finally {
    await mk.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
