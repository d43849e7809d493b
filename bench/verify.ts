// pnpm bench verify [--events N]
// Verification (signature, disclosures, schema of the disclosed claims) on one core against node:crypto's
// raw Ed25519 verify of the same bytes, and a worker-thread pool's rate on every core.
// Rates are per second of this thread's CPU time: on a shared machine, descheduled time does not count.
import { availableParallelism } from 'node:os';
import { verify } from 'node:crypto';

import { VerifyPool } from '@wbx/gateway';
import { createSealer, verifyPresentation } from '@wbx/seal';

import { arg, machine, round } from './_common.ts';
import { bestCpuRate, benchEvents, benchKey, disclosureHashUs, KID } from './_events.ts';

const n = arg('events', 20_000);
const events = benchEvents(n);
const { privateKey, publicKey, manifest } = benchKey();
const sealer = createSealer({ issuer: 'MK', kid: KID, privateKey });
const tokens = events.map((e) => sealer.seal(e));
const signed = tokens.map((t) => {
  const jwt = t.slice(0, t.indexOf('~'));
  const dot = jwt.lastIndexOf('.');
  return { input: Buffer.from(jwt.slice(0, dot)), signature: Buffer.from(jwt.slice(dot + 1), 'base64url') };
});
const now = new Date();

let raw = 0;
let full = 0;
for (let i = 0; i < 4; i++) {
  raw = Math.max(
    raw,
    bestCpuRate(signed, (s) => verify(null, s.input, publicKey, s.signature), 2),
  );
  full = Math.max(
    full,
    bestCpuRate(tokens, (t) => verifyPresentation(t, { manifest, now }), 2),
  );
}
console.log(`raw Ed25519 verify of the same bytes: ${round(raw)}/s`);
console.log(`verifyPresentation (one core): ${round(full)}/s (${round(full / raw, 3)} × raw; goal ≥ 0.8)`);
// The ratio verify would reach if its disclosures' hashing cost nothing.
const hashUs = disclosureHashUs(tokens, 'cpu');
const hashFree = 1 / (1 / full - hashUs / 1e6);
// The floor the goal is about: the raw verify plus the disclosures' hashing, one after the other.
const floor = 1 / (1 / raw + hashUs / 1e6);
console.log(
  `hashing the disclosures alone: ${round(hashUs, 1)} µs a token; with free hashing verify would be ` +
    `${round(hashFree / raw, 3)} × raw`,
);
console.log(
  `floor (raw verify + disclosure hashing): ${round(floor)}/s; verify ${round(full / floor, 3)} × floor ` +
    '(goal ≥ 0.85)',
);

const workers = availableParallelism();
const pool = new VerifyPool({ manifest, size: workers });
const batch = 256;
const runPool = async (): Promise<number> => {
  const started = performance.now();
  const jobs = [];
  for (let i = 0; i < tokens.length; i += batch) jobs.push(pool.verifyBatch(tokens.slice(i, i + batch), now));
  const results = (await Promise.all(jobs)).flat();
  if (results.some((r) => !r.ok)) throw new Error('a token failed in the pool');
  return tokens.length / ((performance.now() - started) / 1000);
};
await runPool(); // warm-up
let pooled = 0;
for (let i = 0; i < 3; i++) pooled = Math.max(pooled, await runPool());
await pool.close();
console.log(
  `verify pool, ${workers} workers: ${round(pooled)}/s (${round(pooled / raw, 3)} × one core's raw verify)`,
);

console.log(
  JSON.stringify({
    bench: 'verify',
    events: n,
    verify_per_s: round(full),
    raw_verify_per_s: round(raw),
    ratio_vs_raw_verify: round(full / raw, 3),
    goal_ratio: 0.8,
    disclosure_hash_us_per_token: round(hashUs, 1),
    ratio_if_hashing_were_free: round(hashFree / raw, 3),
    timing: 'thread CPU time',
    floor: 'raw Ed25519 verify + disclosure hashing, same tokens, one core',
    floor_per_s: round(floor),
    ratio_vs_floor: round(full / floor, 3),
    goal_ratio_vs_floor: 0.85,
    pool_workers: workers,
    pool_verify_per_s: round(pooled),
    pool_ratio_vs_raw_verify_one_core: round(pooled / raw, 3),
    machine: machine(),
  }),
);
