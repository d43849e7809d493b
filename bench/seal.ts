// pnpm bench seal [--events N]
// Sealing (SD-JWT, WBX profile) on one core against node:crypto's raw Ed25519 sign of the same bytes.
// Rates are per second of this thread's CPU time: on a shared machine, descheduled time does not count.
import { sign } from 'node:crypto';

import { createSealer } from '@wbx/seal';

import { arg, machine, round } from './_common.ts';
import { bestCpuRate, benchEvents, benchKey, disclosureHashUs, KID } from './_events.ts';

const n = arg('events', 20_000);
const events = benchEvents(n);
const { privateKey } = benchKey();
const sealer = createSealer({ issuer: 'MK', kid: KID, privateKey });

const tokens = events.map((e) => sealer.seal(e));
const signingInputs = tokens.map((t) => Buffer.from(t.slice(0, t.lastIndexOf('.', t.indexOf('~')))));
const avgTokenBytes = tokens.reduce((s, t) => s + t.length, 0) / n;
const avgDisclosures = tokens.reduce((s, t) => s + t.split('~').length - 2, 0) / n;

// Interleave so that both see the same machine state; keep each one's best round.
let raw = 0;
let seal = 0;
for (let i = 0; i < 4; i++) {
  raw = Math.max(
    raw,
    bestCpuRate(signingInputs, (input) => sign(null, input, privateKey), 2),
  );
  seal = Math.max(
    seal,
    bestCpuRate(events, (e) => sealer.seal(e), 2),
  );
}
// The ratio seal would reach if its disclosures' hashing cost nothing.
const hashUs = disclosureHashUs(tokens, 'cpu');
const hashFree = 1 / (1 / seal - hashUs / 1e6);
// The floor the goal is about: the raw sign plus the disclosures' hashing, one after the other.
const floor = 1 / (1 / raw + hashUs / 1e6);
console.log(`raw Ed25519 sign of the same signing inputs: ${round(raw)}/s`);
console.log(`seal (validated event → SD-JWT): ${round(seal)}/s (${round(seal / raw, 3)} × raw; goal ≥ 0.7)`);
console.log(
  `hashing the disclosures alone: ${round(hashUs, 1)} µs a token; with free hashing seal would be ` +
    `${round(hashFree / raw, 3)} × raw`,
);
console.log(
  `floor (raw sign + disclosure hashing): ${round(floor)}/s; seal ${round(seal / floor, 3)} × floor (goal ≥ 0.8)`,
);
console.log(
  JSON.stringify({
    bench: 'seal',
    events: n,
    seal_per_s: round(seal),
    raw_sign_per_s: round(raw),
    ratio_vs_raw_sign: round(seal / raw, 3),
    goal_ratio: 0.7,
    disclosure_hash_us_per_token: round(hashUs, 1),
    ratio_if_hashing_were_free: round(hashFree / raw, 3),
    timing: 'thread CPU time',
    floor: 'raw Ed25519 sign + disclosure hashing, same tokens, one core',
    floor_per_s: round(floor),
    ratio_vs_floor: round(seal / floor, 3),
    goal_ratio_vs_floor: 0.8,
    avg_token_bytes: round(avgTokenBytes),
    avg_disclosures: round(avgDisclosures, 1),
    machine: machine(),
  }),
);
