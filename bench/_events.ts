// Shared by the seal and verify benchmarks: generated events, a key, a manifest that trusts it.
import { generateKeyPairSync, hash, type KeyObject } from 'node:crypto';

import { parseManifestBody, type ManifestBody } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';

export const KID = 'MK#2024-01-01-1';

export function benchEvents(count: number): ValidEvent[] {
  const now = new Date();
  const out: ValidEvent[] = [];
  const from = new Date('2023-01-01T00:00:00Z');
  const to = new Date('2024-01-01T00:00:00Z');
  for (const e of generateEvents({ partner: 'MK', count, seed: 'bench', from, to })) {
    const r = validateEvent(JSON.parse(JSON.stringify(e)), { now });
    if (!r.ok) throw new Error('generated event is invalid');
    out.push(r.event);
  }
  return out;
}

export function benchKey(): { privateKey: KeyObject; publicKey: KeyObject; manifest: ManifestBody } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const { x } = publicKey.export({ format: 'jwk' }) as { x: string };
  const manifest = parseManifestBody({
    version: 1,
    threshold: 1,
    issuedAt: '2024-01-01T00:00:00Z',
    members: [
      {
        id: 'MK',
        name: 'North Macedonia',
        roles: ['origin'],
        signingKeys: [
          { kid: KID, jwk: { kty: 'OKP', crv: 'Ed25519', x }, notBefore: '2020-01-01T00:00:00Z' },
        ],
        tlsCertSha256: [],
      },
    ],
  });
  return { privateKey, publicKey, manifest };
}

/** Runs `fn` over `items` `rounds` times and returns the best rate (items/s), after one warm-up round. */
export function bestRate<T>(items: readonly T[], fn: (item: T) => unknown, rounds = 3): number {
  for (const item of items.slice(0, Math.min(items.length, 2000))) fn(item);
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    for (const item of items) fn(item);
    best = Math.max(best, items.length / ((performance.now() - started) / 1000));
  }
  return best;
}

/** This thread's CPU time so far (user + system), µs. */
function threadCpuUs(): number {
  const { user, system } = process.threadCpuUsage();
  return user + system;
}

/**
 * Like bestRate, timed by this thread's CPU time instead of the wall clock (items per CPU second): on a
 * machine shared with other work, the time the thread spends descheduled does not count against it.
 */
export function bestCpuRate<T>(items: readonly T[], fn: (item: T) => unknown, rounds = 3): number {
  for (const item of items.slice(0, Math.min(items.length, 2000))) fn(item);
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const started = threadCpuUs();
    for (const item of items) fn(item);
    best = Math.max(best, items.length / ((threadCpuUs() - started) / 1e6));
  }
  return best;
}

/**
 * The SHA-256 work a token's disclosures take on their own: one node:crypto `hash` of each disclosure
 * (as seal and verify compute their digests), best µs per token over three rounds, by the wall clock or
 * by this thread's CPU time. Taken off a measured
 * time, it bounds what any faster hashing (a native batch, say) could give.
 */
export function disclosureHashUs(tokens: readonly string[], clock: 'wall' | 'cpu' = 'wall'): number {
  const disclosures = tokens.map((t) => t.split('~').slice(1, -1));
  const now = clock === 'cpu' ? threadCpuUs : () => performance.now() * 1000;
  const round = (): number => {
    const started = now();
    for (const list of disclosures) for (const d of list) hash('sha256', d, 'base64url');
    return (now() - started) / tokens.length;
  };
  round();
  return Math.min(round(), round(), round());
}
