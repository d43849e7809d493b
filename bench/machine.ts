// pnpm bench machine
// What this machine charges for the things a gateway does once per event besides its own work, measured
// the same way the other benchmarks measure: CPU per wake-up of an idle event loop (a 4 ms timer, as an
// event arriving now and then wakes a gateway), the same seal in a tight loop against one seal per
// wake-up (cold caches), and the latency of one acknowledged JetStream publish of a sealed event to a
// local nats-server, paced at 100/s and 1,000/s: the floor under e2e, where an event goes through three
// such publishes and two consumer deliveries one after another.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createSealer } from '@wbx/seal';

import { machine, quantile, round } from './_common.ts';
import { benchEvents, benchKey, KID } from './_events.ts';
import { startNats } from './_ingest-setup.ts';

const WAKEUPS = 1_000;
const events = benchEvents(4_000);
const { privateKey } = benchKey();
const sealer = createSealer({ issuer: 'MK', kid: KID, privateKey });

// CPU of one wake-up: the process's CPU over WAKEUPS sleeps of 4 ms, doing nothing else.
const before = process.cpuUsage();
for (let i = 0; i < WAKEUPS; i++) await sleep(4);
const idle = process.cpuUsage(before);
const wakeupUs = (idle.user + idle.system) / WAKEUPS;

// The same seal, tight and paced.
for (const e of events.slice(0, 2_000)) sealer.seal(e);
const tightStarted = performance.now();
for (const e of events.slice(0, 2_000)) sealer.seal(e);
const tightUs = ((performance.now() - tightStarted) / 2_000) * 1000;
const paced: number[] = [];
for (const e of events.slice(2_000, 2_000 + WAKEUPS)) {
  await sleep(4);
  const t0 = performance.now();
  sealer.seal(e);
  paced.push((performance.now() - t0) * 1000);
}
paced.sort((a, b) => a - b);
const p = (q: number): number => paced[Math.floor(q * (paced.length - 1))] ?? Number.NaN;

// Acked publish latency, paced (timer-driven, not waiting for acks), on a stream like WBX_EVENTS.
const tokens = events.map((e) => sealer.seal(e));
const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-machine-'));
const nats = await startNats(dir);
const publishLatency: Record<string, { p50: number; p99: number; max: number }> = {};
try {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const js = jetstream(nc);
  await (
    await jetstreamManager(nc)
  ).streams.add({ name: 'BENCH', subjects: ['bench.>'], duplicate_window: 86_400_000_000_000 });
  let next = 0;
  for (const rate of [100, 1_000]) {
    const count = rate * 5;
    const latencies: number[] = [];
    const acks: Promise<void>[] = [];
    const started = performance.now();
    for (let sent = 0; sent < count;) {
      const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      for (; sent < due; sent++) {
        const i = next++;
        const t0 = performance.now();
        acks.push(
          js
            .publish('bench.event', tokens[i % tokens.length], { msgID: `m-${i}` })
            .then(() => void latencies.push(performance.now() - t0)),
        );
      }
      await sleep(1);
    }
    await Promise.all(acks);
    latencies.sort((a, b) => a - b);
    publishLatency[`at_${rate}_per_s`] = {
      p50: round(quantile(latencies, 0.5), 2),
      p99: round(quantile(latencies, 0.99), 2),
      max: round(latencies.at(-1) ?? Number.NaN, 2),
    };
  }
  await nc.close();
} finally {
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`an idle event loop's wake-up (4 ms timer): ${round(wakeupUs, 1)} µs of CPU`);
console.log(
  `seal: ${round(tightUs, 1)} µs in a tight loop; ` +
    `one per wake-up: p50 ${round(p(0.5), 1)} µs, p90 ${round(p(0.9), 1)} µs`,
);
for (const [k, v] of Object.entries(publishLatency))
  console.log(
    `acked JetStream publish ${k.replaceAll('_', ' ')}: p50 ${v.p50} ms, p99 ${v.p99} ms, max ${v.max} ms`,
  );
console.log(
  JSON.stringify({
    bench: 'machine',
    acked_publish_latency_ms: publishLatency,
    wakeup_cpu_us: round(wakeupUs, 1),
    seal_tight_us: round(tightUs, 1),
    seal_one_per_wakeup_us: { p50: round(p(0.5), 1), p90: round(p(0.9), 1) },
    ratio_paced_p50_vs_tight: round(p(0.5) / tightUs, 2),
    kernel: (await import('node:os')).release(),
    machine: machine(),
  }),
);
