import type { Random } from '../random.js';

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix millisecond timestamp, version 7, 12 random bits, variant 10, 62
 * random bits — the random bits drawn from the seeded generator, so the id is deterministic.
 */
export function uuidV7(ms: number, rng: Random): string {
  const ts = Math.floor(ms).toString(16).padStart(12, '0');
  const randA = (rng.uint32() & 0xfff).toString(16).padStart(3, '0');
  const variant = (0x8 | (rng.uint32() & 0x3)).toString(16);
  const randB = rng.hex(15);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${randA}-${variant}${randB.slice(0, 3)}-${randB.slice(3)}`;
}
