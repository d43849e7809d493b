import { describe, expect, it } from 'vitest';

import { Random } from '../src/index.js';

const draws = (seed: string, n = 100): number[] => {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => rng.uint32());
};

describe('Random', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    expect(draws('a')).toEqual(draws('a'));
    expect(draws('a')).not.toEqual(draws('b'));
    expect(draws('')).not.toEqual(draws(' '));
  });

  it('keeps next() in [0, 1) and int() within its inclusive bounds', () => {
    const rng = new Random('bounds');
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const x = rng.next();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      seen.add(rng.int(3, 7));
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7]);
  });

  it('never picks a zero weight and follows the weights', () => {
    const rng = new Random('weights');
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 10_000; i++)
      counts[
        rng.weighted([
          ['a', 1],
          ['b', 0],
          ['c', 3],
        ] as const)
      ]++;
    expect(counts.b).toBe(0);
    expect(counts.c / counts.a).toBeGreaterThan(2.5);
    expect(counts.c / counts.a).toBeLessThan(3.5);
  });

  it('makes lowercase hex of the requested length and samples distinct items', () => {
    const rng = new Random('hex');
    for (const n of [1, 15, 64]) expect(rng.hex(n)).toMatch(new RegExp(`^[0-9a-f]{${n}}$`));
    const sample = rng.sample(['a', 'b', 'c', 'd'], 3);
    expect(new Set(sample).size).toBe(3);
  });
});
