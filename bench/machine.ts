// pnpm bench machine
// What this machine charges for the things a gateway does once per event besides its own work, measured
// the same way the other benchmarks measure: CPU per wake-up of an idle event loop (a 4 ms timer, as an
// event arriving now and then wakes a gateway), and the same seal in a tight loop against one seal per
// wake-up (cold caches). Read with the other figures: a per-event cost inside a running gateway is the
// tight-loop cost plus these.
import { setTimeout as sleep } from 'node:timers/promises';

import { createSealer } from '@wbx/seal';

import { machine, round } from './_common.ts';
import { benchEvents, benchKey, KID } from './_events.ts';

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

console.log(`an idle event loop's wake-up (4 ms timer): ${round(wakeupUs, 1)} µs of CPU`);
console.log(`seal: ${round(tightUs, 1)} µs in a tight loop; one per wake-up: p50 ${round(p(0.5), 1)} µs, p90 ${round(p(0.9), 1)} µs`); // prettier-ignore
console.log(
  JSON.stringify({
    bench: 'machine',
    wakeup_cpu_us: round(wakeupUs, 1),
    seal_tight_us: round(tightUs, 1),
    seal_one_per_wakeup_us: { p50: round(p(0.5), 1), p90: round(p(0.9), 1) },
    ratio_paced_p50_vs_tight: round(p(0.5) / tightUs, 2),
    kernel: (await import('node:os')).release(),
    machine: machine(),
  }),
);
