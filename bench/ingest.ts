// pnpm bench ingest [--events N] [--node-options '<flags>']
// Ingest throughput against the raw baseline of acknowledged JetStream publishes of the same sealed bytes:
//   (1) raw: js.publish of pre-sealed tokens (msgID set), WINDOW in flight, into a fresh file stream;
//   (2) pipeline: IngestPipeline.submit (validate → seal → publish → ack), WINDOW in flight, in this process;
//   (3) gRPC: SubmitStream to `wbx gateway` (loopback plaintext) with flow control. The gateway runs as a
//       child process so that its CPU time and memory are its own and the client does not share its
//       event loop (in one process, client and server would both be on one thread);
//   (4) unary Submit latency at a steady RATE events/s for SECONDS s;
//   (5) the gateway process's resident memory (VmRSS now, VmHWM peak);
//   (6) the floor under (3) on this machine, from raw parts measured in this run: the CPU per event of
//       the raw publish (client and nats-server), of a bare gRPC SubmitStream of the same Events to a
//       server that answers at once and does nothing else (`_bare-ingest.ts`, client and server), and of
//       one raw Ed25519 sign. At 0.8 × the raw rate these alone need `floor_cores_at_goal` cores (the
//       client shares this machine's cores, as in (3)); `floor_cores_at_goal_without_client` leaves the
//       client's gRPC CPU out, once with the raw sign and once with this run's validate + seal.
//   The last line's `ratio_vs_floor` is (3) against the rate of that floor on all cores
//   (`floor_per_s` = cores × 1e6 / `floor_cpu_us_per_event`); the goal is ≥ 0.8.
// `--node-options` starts the gateway child with NODE_OPTIONS, to try heap sizes against (5) other than
// `wbx gateway`'s own (--max-semi-space-size=4 --max-old-space-size=1024; a flag set to 0: V8's default).
// Each run ingests events nobody submitted before (distinct seeds), so none is a duplicate. The figures
// depend on what else the machine runs: the 1-minute load average is reported with them.
import { sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, Metadata } from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  createLogger,
  EVENTS_STREAM,
  eventsStreamConfig,
  GatewayMetrics,
  IngestPipeline,
  loadGatewayConfig,
  SealPool,
} from '@wbx/gateway';
import { Event, IngestClient, type SubmitResult } from '@wbx/proto';
import { validateEvent } from '@wbx/schema';
import { createSealer } from '@wbx/seal';

import { arg, cpuSeconds, machine, pipelined, quantile, round } from './_common.ts';
import {
  events,
  rssMb,
  startGatewayChild,
  startNats,
  startNodeChild,
  writeGatewayFiles,
} from './_ingest-setup.ts';

const n = arg('events', 50_000);
const GATEWAY_NODE_OPTIONS = ((i) => (i < 0 ? undefined : process.argv[i + 1]))(
  process.argv.indexOf('--node-options'),
);
const WINDOW = 512;
const RATE = 1_000;
const SECONDS = 10;
const WARM = 1_000;

type Json = Record<string, unknown>;
interface Sealed {
  subject: string;
  token: string;
  id: string;
}

const loadAtStart = loadavg()[0] ?? 0;
const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-ingest-'));
const nats = await startNats(dir);
try {
  const { configFile, kid, key } = await writeGatewayFiles(join(dir, 'gateway'), nats.url);
  const config = await loadGatewayConfig(configFile, {}, {});
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const streamConfig = eventsStreamConfig('MK', config.streams);
  // A fresh nats-server: creating the streams is what the gateway's start-up would do.
  await jsm.streams.add(streamConfig);
  await jsm.streams.add({ ...streamConfig, name: 'BENCH_RAW', subjects: ['bench.raw.>'] });
  const sealer = createSealer({ issuer: 'MK', kid, privateKey: key });

  // (1) and (2) share set A: raw publishes its pre-sealed tokens, the pipeline seals it again itself.
  // Each phase makes its own events, so that the big arrays of one are garbage in the next.
  const rawCores = { client: 0, server: 0 };
  let rawSignCpuUs = 0;
  const { raw, inProcess, pooled, workers, validateSealPerS } = await (async () => {
    const now = new Date();
    const seal = (list: readonly Json[]): Sealed[] =>
      list.map((input) => {
        const r = validateEvent(input, { now });
        if (!r.ok) throw new Error('generated event is invalid');
        return {
          subject: `bench.raw.${r.event.type}`,
          token: sealer.seal(r.event, { now }),
          id: r.event.eventId,
        };
      });
    const warm = events(2 * WARM, 'warm-a');
    const setA = events(n, 'a');
    const sealStarted = performance.now();
    const rawA = seal(setA);
    const validateSealPerS = n / ((performance.now() - sealStarted) / 1000);
    // One raw Ed25519 sign of the same signing inputs, CPU µs each.
    const inputs = rawA
      .slice(0, 5_000)
      .map((t) => Buffer.from(t.token.slice(0, t.token.lastIndexOf('.', t.token.indexOf('~')))));
    for (const input of inputs.slice(0, 1_000)) sign(null, input, key);
    rawSignCpuUs = Number.POSITIVE_INFINITY;
    for (let pass = 0; pass < 3; pass++) {
      const signCpu = process.cpuUsage();
      for (const input of inputs) sign(null, input, key);
      const used = process.cpuUsage(signCpu);
      rawSignCpuUs = Math.min(rawSignCpuUs, (used.user + used.system) / inputs.length);
    }
    const publish = (t: Sealed) =>
      js.publish(t.subject, t.token, { msgID: t.id, expect: { streamName: 'BENCH_RAW' }, timeout: 30_000 });
    await pipelined(seal(warm.slice(0, WARM)), WINDOW, publish);
    // What the raw publish costs the machine: this process (the client) and nats-server, in cores.
    const cpuBefore = { client: process.cpuUsage(), server: cpuSeconds(nats.pid) };
    const raw = rawA.length / (await pipelined(rawA, WINDOW, publish));
    const rawSeconds = rawA.length / raw;
    const clientUsed = process.cpuUsage(cpuBefore.client);
    rawCores.client = (clientUsed.user + clientUsed.system) / 1e6 / rawSeconds;
    rawCores.server = (cpuSeconds(nats.pid) - cpuBefore.server) / rawSeconds;
    console.log(`(1) raw acked JetStream publish of pre-sealed tokens: ${round(raw)}/s`);

    /** The pipeline on `list` after a warm-up, `WINDOW` in flight: events/s. */
    const throughPipeline = async (
      warmUp: readonly Json[],
      list: readonly Json[],
      sealPool?: SealPool,
    ): Promise<number> => {
      const pipeline = new IngestPipeline({
        partner: 'MK',
        js,
        sealer,
        sealPool,
        metrics: new GatewayMetrics(),
        log: createLogger('silent', 'MK'),
        publishTimeoutMs: config.nats.publishTimeout,
      });
      await pipelined(warmUp, WINDOW, (e) => pipeline.submit(e));
      const rate = list.length / (await pipelined(list, WINDOW, (e) => pipeline.submit(e)));
      await pipeline.drain();
      return rate;
    };
    const inProcess = await throughPipeline(warm.slice(WARM), setA);
    console.log(
      `(2) IngestPipeline.submit, ${WINDOW} in flight: ${round(inProcess)}/s ` +
        `(${round(inProcess / raw, 3)} × raw)`,
    );

    // (2b) The same with the gateway's default seal pool (ingest.sealWorkers: cores − 1), on set A again
    // under new ids.
    const workers = config.ingest.sealWorkers;
    let pooled = 0;
    if (workers > 0) {
      const sealPool = new SealPool({ issuer: 'MK', kid, privateKey: key, size: workers }, sealer);
      pooled = await throughPipeline(events(WARM, 'warm-pool'), events(n, 'a-pool'), sealPool);
      await sealPool.close();
      console.log(
        `(2b) …with ${workers} seal worker(s): ${round(pooled)}/s (${round(pooled / raw, 3)} × raw)`,
      );
    }
    return { raw, inProcess, pooled, workers, validateSealPerS };
  })();

  const ownOptions = process.env.NODE_OPTIONS;
  if (GATEWAY_NODE_OPTIONS !== undefined) process.env.NODE_OPTIONS = GATEWAY_NODE_OPTIONS;
  const gateway = await startGatewayChild(configFile).finally(() => {
    if (ownOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = ownOptions;
  });
  const idle = rssMb(gateway.pid);
  const client = new IngestClient(gateway.grpc, credentials.createInsecure());
  const toProto = (list: readonly Json[]): Event[] => list.map((e) => Event.fromJSON(e));
  try {
    // (3) SubmitStream of set B.
    const { grpc, streamCpuUs } = await (async () => {
      await submitStream(client, toProto(events(WARM, 'warm-b')));
      const setB = toProto(events(n, 'b'));
      const started = performance.now();
      const cpu = cpuSeconds(gateway.pid);
      const streamed = await submitStream(client, setB);
      const grpc = n / ((performance.now() - started) / 1000);
      const streamCpuUs = ((cpuSeconds(gateway.pid) - cpu) / n) * 1e6;
      if (streamed.receipts !== n) throw new Error(`SubmitStream: ${streamed.receipts} receipts of ${n}`);
      console.log(
        `(3) gRPC SubmitStream to wbx gateway: ${round(grpc)}/s (${round(grpc / raw, 3)} × raw), ` +
          `gateway CPU ${round(streamCpuUs)} µs/event`,
      );
      return { grpc, streamCpuUs };
    })();

    // (4) Unary Submit of set C at a steady rate.
    const setC = toProto(events(RATE * SECONDS, 'c'));
    const cpu = cpuSeconds(gateway.pid);
    const latency = await paced(client, setC);
    const unaryCpuUs = ((cpuSeconds(gateway.pid) - cpu) / setC.length) * 1e6;
    console.log(
      `(4) unary Submit at ${RATE}/s for ${SECONDS} s (achieved ${round(latency.rate)}/s): ` +
        `p50 ${round(latency.p50, 2)} ms, p99 ${round(latency.p99, 2)} ms, ` +
        `max ${round(latency.max, 2)} ms, ` +
        `${latency.errors} errors; gateway CPU ${round(unaryCpuUs)} µs/event, ` +
        `client event loop ${round(latency.clientLoad * 100)}% busy`,
    );

    // (5) The gateway's memory.
    const memory = rssMb(gateway.pid);
    console.log(
      `(5) wbx gateway RSS: ${round(idle.rss)} MiB idle, ${round(memory.rss)} MiB after the runs, ` +
        `peak ${round(memory.peak)} MiB`,
    );

    // (6) The bare gRPC baseline, and the floor it sets with the raw publish and the raw sign.
    const bare = await (async () => {
      const child = await startNodeChild([join(import.meta.dirname, '_bare-ingest.ts')]);
      try {
        const address = (JSON.parse(child.readyLine) as { grpc: string }).grpc;
        const bareClient = new IngestClient(address, credentials.createInsecure());
        await submitStream(bareClient, toProto(events(WARM, 'warm-bare')));
        const list = toProto(events(n, 'bare'));
        const before = { server: cpuSeconds(child.pid), client: process.cpuUsage(), at: performance.now() };
        const { receipts } = await submitStream(bareClient, list);
        const perS = n / ((performance.now() - before.at) / 1000);
        const clientUs = ((u) => (u.user + u.system) / n)(process.cpuUsage(before.client));
        const serverUs = ((cpuSeconds(child.pid) - before.server) / n) * 1e6;
        bareClient.close();
        if (receipts !== n) throw new Error(`bare SubmitStream: ${receipts} receipts of ${n}`);
        return { perS, clientUs, serverUs };
      } finally {
        await child.stop();
      }
    })();
    const publishUs = ((rawCores.client + rawCores.server) / raw) * 1e6;
    const floorUs = publishUs + bare.clientUs + bare.serverUs + rawSignCpuUs;
    const floorCoresAtGoal = (0.8 * raw * floorUs) / 1e6;
    // The floor as a rate: every core of this machine busy with nothing but those raw parts.
    const floorPerS = (availableParallelism() * 1e6) / floorUs;
    // The same without the client's gRPC CPU (what the gateway and nats-server alone would need, were the
    // client on another machine), with a raw sign and with this run's validate + seal.
    const gatewaySideUs = publishUs + bare.serverUs;
    const gatewaySideCores = {
      raw_sign: (0.8 * raw * (gatewaySideUs + rawSignCpuUs)) / 1e6,
      validate_seal: (0.8 * raw * (gatewaySideUs + 1e6 / validateSealPerS)) / 1e6,
    };
    console.log(
      `(6) bare gRPC SubmitStream (answers at once, nothing else): ${round(bare.perS)}/s, ` +
        `client ${round(bare.clientUs)} + server ${round(bare.serverUs)} µs CPU/event; raw publish ` +
        `${round(publishUs)} µs, raw sign ${round(rawSignCpuUs)} µs: at 0.8 × raw (${round(0.8 * raw)}/s) ` +
        `these alone need ${round(floorCoresAtGoal, 2)} cores of ${availableParallelism()}; without the ` +
        `client's share, ${round(gatewaySideCores.raw_sign, 2)} (with this run's validate + seal instead ` +
        `of a raw sign: ${round(gatewaySideCores.validate_seal, 2)})`,
    );

    const stored = (await jsm.streams.info(EVENTS_STREAM)).state.messages;
    const expected = 2 * WARM + 2 * n + RATE * SECONDS + (workers > 0 ? WARM + n : 0);
    if (stored !== expected) throw new Error(`${EVENTS_STREAM} holds ${stored} events, expected ${expected}`);
    console.log(
      JSON.stringify({
        bench: 'ingest',
        events: n,
        window: WINDOW,
        raw_publish_per_s: round(raw),
        pipeline_per_s: round(inProcess),
        grpc_stream_per_s: round(grpc),
        ratio_pipeline_vs_raw: round(inProcess / raw, 3),
        seal_workers: workers,
        pipeline_seal_pool_per_s: round(pooled),
        ratio_pipeline_seal_pool_vs_raw: round(pooled / raw, 3),
        ratio_grpc_vs_raw: round(grpc / raw, 3),
        goal_ratio: 0.8,
        validate_seal_per_s: round(validateSealPerS),
        // Cores busy during the raw publish, and what validate + seal would add at 0.8 × its rate.
        raw_publish_cores: { client: round(rawCores.client, 2), nats_server: round(rawCores.server, 2) },
        cores_to_add_for_goal: round((0.8 * raw) / validateSealPerS, 2),
        gateway_cpu_us_per_event: { stream: round(streamCpuUs), unary: round(unaryCpuUs) },
        bare_grpc_stream: {
          per_s: round(bare.perS),
          client_cpu_us_per_event: round(bare.clientUs),
          server_cpu_us_per_event: round(bare.serverUs),
        },
        raw_sign_cpu_us: round(rawSignCpuUs, 1),
        raw_publish_cpu_us_per_event: round(publishUs),
        floor_cpu_us_per_event: round(floorUs),
        floor_cores_at_goal: round(floorCoresAtGoal, 2),
        // The goal (issue 18): SubmitStream ≥ 0.8 × the floor's rate.
        floor_per_s: round(floorPerS),
        ratio_vs_floor: round(grpc / floorPerS, 3),
        goal_ratio_vs_floor: 0.8,
        floor_cores_at_goal_without_client: {
          raw_sign: round(gatewaySideCores.raw_sign, 2),
          validate_seal: round(gatewaySideCores.validate_seal, 2),
        },
        cores: availableParallelism(),
        submit_latency: {
          rate_per_s: RATE,
          achieved_per_s: round(latency.rate),
          seconds: SECONDS,
          calls: setC.length,
          errors: latency.errors,
          p50_ms: round(latency.p50, 2),
          p99_ms: round(latency.p99, 2),
          max_ms: round(latency.max, 2),
        },
        // The memory goal is about `peak` (VmHWM): ≤ goal_gateway_rss_mb_peak.
        gateway_rss_mb: { idle: round(idle.rss), after: round(memory.rss), peak: round(memory.peak) },
        goal_gateway_rss_mb_peak: 256,
        gateway_node_options: GATEWAY_NODE_OPTIONS ?? null,
        load_avg_1m: { start: round(loadAtStart, 2), end: round(loadavg()[0] ?? 0, 2) },
        machine: machine(),
      }),
    );
  } finally {
    client.close();
    await gateway.stop();
    await nc.close();
  }
} finally {
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** One SubmitStream over `list`, honouring flow control; resolves when the gateway has answered them all. */
async function submitStream(client: IngestClient, list: readonly Event[]): Promise<{ receipts: number }> {
  const call = client.submitStream();
  let receipts = 0;
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (r: SubmitResult) => {
      if (r.receipt !== undefined) receipts += 1;
    });
    call.on('end', () => resolve());
    call.on('error', reject);
  });
  for (const event of list) {
    if (!call.write(event)) await new Promise<void>((resolve) => call.once('drain', () => resolve()));
  }
  call.end();
  await done;
  return { receipts };
}

/** Unary Submit of `list` at RATE calls/s (timer-paced, not waiting for answers); each call's latency. */
async function paced(
  client: IngestClient,
  list: readonly Event[],
): Promise<{ rate: number; errors: number; p50: number; p99: number; max: number; clientLoad: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const calls: Promise<void>[] = [];
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  let sent = 0;
  while (sent < list.length) {
    const due = Math.min(list.length, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
    for (; sent < due; sent++) {
      const event = list[sent]!;
      const t0 = performance.now();
      calls.push(
        new Promise<void>((resolve) => {
          client.submit(event, new Metadata(), { deadline: Date.now() + 30_000 }, (e) => {
            if (e) errors += 1;
            else latencies.push(performance.now() - t0);
            resolve();
          });
        }),
      );
    }
    await sleep(1);
  }
  const rate = list.length / ((performance.now() - started) / 1000);
  await Promise.all(calls);
  const clientLoad = performance.eventLoopUtilization(elu).utilization;
  latencies.sort((a, b) => a - b);
  return {
    rate,
    errors,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? Number.NaN,
    clientLoad,
  };
}
