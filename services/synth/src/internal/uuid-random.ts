import type { Random } from '../random.js';

/**
 * The random part of an event id, as `uuidV7` (@wbx/schema) takes it: 12 bits of rand_a, 2 and then 60
 * of rand_b, drawn from the seeded generator so that the id is deterministic.
 */
export function uuidRandom(rng: Random): string {
  const randA = (rng.uint32() & 0xfff).toString(16).padStart(3, '0');
  const randB = (rng.uint32() & 0x3).toString(16);
  return `${randA}${randB}${rng.hex(15)}`;
}
