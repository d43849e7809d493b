// pnpm bench receive [--events N]
// RS's receive path — fetch from its consumer on MK's NATS, verify against the manifest, check the
// disclosed claims, store in RS's WBX_INBOX (msgID = eventId), acknowledge MK — on N presentations that
// MK's share worker has already put in WBX_SHARE_RS: the clock runs from the receive worker's start until
// RS's inbox holds them all. Baseline, same run: node:crypto's raw Ed25519 verify of the same tokens' JWT
// signing inputs on one core. Both gateways (embedded nats-servers) run in this process; the share
// worker is idle while the receive worker is timed. Also: the stages one at a time (verify, store).
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { makeFederation } from '@wbx/fixtures';
import { createLogger, fixedAgreements, INBOX_STREAM, ReceiveWorker } from '@wbx/gateway';
import { verifyPresentation } from '@wbx/seal';

import { arg, machine, pipelined, round } from './_common.ts';
import { bestRate, disclosureHashUs } from './_events.ts';
import {
  agreeRecords,
  sealAll,
  sharedEvents,
  startGateway,
  waitFor,
  type SealedEvent,
} from './_share-setup.ts';

const n = arg('events', 20_000);
const WARM = 1_000;
const STAGE_SAMPLE = 2_000;

const messages = async (jsm: JetStreamManager, stream: string): Promise<number> =>
  (await jsm.streams.info(stream)).state.messages;

const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-receive-'));
try {
  const fed = await makeFederation(dir, ['MK', 'RS']);
  await agreeRecords(fed, 'RS');
  const warm = sealAll(fed, sharedEvents(WARM, 'warm'));
  const sealed = sealAll(fed, sharedEvents(n, 'measured'));
  const mk = await startGateway(fed, 'MK');
  const rs = await startGateway(fed, 'RS');
  const mkjs = jetstream(mk.nats);
  const mkm = await jetstreamManager(mk.nats);
  const rsjs = jetstream(rs.nats);
  const rsm = await jetstreamManager(rs.nats);
  const source = { partner: 'MK', url: mk.natsUrl, nkeyFile: join(mk.accessDir!, 'RS.nkey') };
  const log = createLogger('warn', 'RS');
  try {
    /** Publishes into MK's WBX_EVENTS and waits until MK's share worker has put them all in WBX_SHARE_RS. */
    const share = async (list: readonly SealedEvent[], total: number): Promise<void> => {
      await pipelined(list, 512, (e) =>
        mkjs.publish(`wbx.evt.MK.${e.type}`, e.token, { msgID: e.id, expect: { streamName: 'WBX_EVENTS' } }),
      );
      await waitFor('WBX_SHARE_RS', async () => (await messages(mkm, 'WBX_SHARE_RS')) >= total, 600_000, 50);
    };
    /**
     * Runs a receive worker until RS's inbox holds `total`; resolves to the seconds and CPU µs it took, all
     * threads and the main thread alone (NATS, policy, storing; the verify pool's threads do the verifying).
     */
    const receive = async (total: number): Promise<{ seconds: number; cpuUs: number; mainCpuUs: number }> => {
      const worker = new ReceiveWorker({
        partner: 'RS',
        sources: [source],
        js: rsjs,
        jsm: rsm,
        manifest: () => rs.manifest,
        agreements: fixedAgreements('RS', rs.agreements),
        log,
      });
      const cpu = process.cpuUsage();
      const mainCpu = process.threadCpuUsage();
      const started = performance.now();
      await worker.start();
      const done = await waitFor(
        'WBX_INBOX',
        async () => (await messages(rsm, INBOX_STREAM)) >= total,
        600_000,
      );
      const used = process.cpuUsage(cpu);
      const main = process.threadCpuUsage(mainCpu);
      await worker.stop();
      return {
        seconds: (done - started) / 1000,
        cpuUs: used.user + used.system,
        mainCpuUs: main.user + main.system,
      };
    };

    await share(warm, WARM);
    await receive(WARM);
    await share(sealed, WARM + n);
    const measured = await receive(WARM + n);
    if ((await messages(rsm, 'WBX_QUARANTINE')) !== 0) throw new Error('presentations were quarantined');
    const rate = n / measured.seconds;
    const cpuUs = measured.cpuUs / n;
    const mainCpuUs = measured.mainCpuUs / n;

    // The very tokens RS stored, and what a raw verify of each checks: the JWT's signing input.
    const tokens: string[] = [];
    const inbox = await rsjs.consumers.get(INBOX_STREAM, { opt_start_seq: WARM + 1 });
    while (tokens.length < n) {
      const batch = await inbox.fetch({ max_messages: 1_000, expires: 5_000 });
      const before = tokens.length;
      for await (const m of batch) tokens.push(m.string());
      if (tokens.length === before) throw new Error(`${INBOX_STREAM} ended after ${tokens.length} of ${n}`);
    }
    const publicKey = createPublicKey(fed.key('MK').key);
    const signed = tokens.map((t) => {
      const jwt = t.slice(0, t.indexOf('~'));
      const dot = jwt.lastIndexOf('.');
      return {
        input: Buffer.from(jwt.slice(0, dot)),
        signature: Buffer.from(jwt.slice(dot + 1), 'base64url'),
      };
    });
    const now = new Date();
    let raw = 0;
    let verifyOnly = 0;
    for (let i = 0; i < 2; i++) {
      raw = Math.max(
        raw,
        bestRate(signed, (s) => verify(null, s.input, publicKey, s.signature), 2),
      );
      verifyOnly = Math.max(
        verifyOnly,
        bestRate(tokens, (t) => verifyPresentation(t, { manifest: rs.manifest, now }), 2),
      );
    }
    // The floor the goal is about: the raw verify plus the disclosures' hashing, on one core.
    const hashUs = disclosureHashUs(tokens);
    const floor = 1 / (1 / raw + hashUs / 1e6);
    // Storing, one acknowledged publish at a time as the worker makes them (a stream like WBX_INBOX).
    await rsm.streams.add({
      name: 'BENCH_INBOX',
      subjects: ['bench.in.>'],
      storage: StorageType.File,
      duplicate_window: 86_400_000_000_000,
    });
    const sample = tokens.slice(0, Math.min(n, STAGE_SAMPLE));
    const storeStarted = performance.now();
    for (const [i, t] of sample.entries()) {
      await rsjs.publish('bench.in.MK', t, { msgID: String(i), expect: { streamName: 'BENCH_INBOX' } });
    }
    const storeUs = ((performance.now() - storeStarted) / sample.length) * 1000;

    const avgDisclosures = tokens.reduce((s, t) => s + t.split('~').length - 2, 0) / n;
    console.log(`raw Ed25519 verify of the same tokens (one core): ${round(raw)}/s`);
    console.log(
      `receive (fetch → verify → WBX_INBOX → ack): ${round(rate)} events/s ` +
        `(${round(rate / raw, 3)} × raw verify; goal ≥ 0.8); this process ${round(cpuUs)} µs CPU per event ` +
        `(main thread ${round(mainCpuUs)} µs)`,
    );
    console.log(
      `floor (raw verify + disclosure hashing, one core): ${round(floor)}/s; ` +
        `receive ${round(rate / floor, 3)} × floor (goal ≥ 0.8)`,
    );
    console.log(
      `stages, per event: verifyPresentation ${round(1e6 / verifyOnly)} µs (${round(verifyOnly)}/s), ` +
        `acked publish into an inbox stream ${round(storeUs)} µs; measured ${round(1e6 / rate)} µs per event`,
    );
    console.log(
      JSON.stringify({
        bench: 'receive',
        events: n,
        receive_per_s: round(rate),
        raw_verify_per_s: round(raw),
        ratio_vs_raw_verify: round(rate / raw, 3),
        goal_ratio: 0.8,
        floor: 'raw Ed25519 verify + disclosure hashing of the same tokens, one core',
        floor_per_s: round(floor),
        disclosure_hash_us_per_token: round(hashUs, 1),
        ratio_vs_floor: round(rate / floor, 3),
        goal_ratio_vs_floor: 0.8,
        receive_per_cpu_s: round(1e6 / cpuUs),
        ratio_per_cpu_s_vs_raw_verify: round(1e6 / cpuUs / raw, 3),
        verify_presentation_per_s: round(verifyOnly),
        stage_us_per_event: {
          verify: round(1e6 / verifyOnly),
          store_one_at_a_time: round(storeUs),
          measured: round(1e6 / rate),
        },
        receive_cpu_us_per_event: round(cpuUs),
        receive_main_thread_cpu_us_per_event: round(mainCpuUs),
        avg_disclosures: round(avgDisclosures, 1),
        load_avg: loadavg().map((l) => round(l, 1)),
        machine: machine(),
      }),
    );
  } finally {
    await rs.stop();
    await mk.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
