import { describe, expect, it } from 'vitest';

import { TurnBatcher } from '../src/turn-batcher.js';

function batcher(pooled: (items: number[]) => Promise<string[]>) {
  const batches: number[][] = [];
  const here: number[] = [];
  const b = new TurnBatcher<number, string>({
    maxBatch: 8,
    minBatch: 4,
    here: (n) => {
      if (n < 0) throw new Error('negative');
      here.push(n);
      return `here ${n}`;
    },
    pooled: (items) => {
      batches.push(items);
      return pooled(items);
    },
  });
  return { b, batches, here };
}

const echo = (items: number[]): Promise<string[]> => Promise.resolve(items.map((n) => `pool ${n}`));

describe('TurnBatcher', () => {
  it('does a trickle here and a turn’s backlog in batches of at most maxBatch, each result in its place', async () => {
    const { b, batches, here } = batcher(echo);
    expect(await Promise.all([b.add(1), b.add(2)])).toEqual(['here 1', 'here 2']);
    const burst = Array.from({ length: 20 }, (_, i) => i);
    expect(await Promise.all(burst.map((n) => b.add(n)))).toEqual(burst.map((n) => `pool ${n}`));
    expect(batches.map((x) => x.length)).toEqual([8, 8, 4]);
    expect(here).toEqual([1, 2]);
  });

  it('fails only the item that fails here, and a whole batch the pool fails', async () => {
    const { b } = batcher(() => Promise.reject(new Error('pool gone')));
    const trickle = await Promise.allSettled([b.add(1), b.add(-1)]);
    expect(trickle.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    const burst = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => b.add(n)));
    expect(burst.every((r) => r.status === 'rejected')).toBe(true);
  });

  it('fails a batch when the pool throws at once or returns too few results', async () => {
    const thrower = batcher(() => {
      throw new Error('no pool');
    });
    await expect(Promise.all([1, 2, 3, 4].map((n) => thrower.b.add(n)))).rejects.toThrow('no pool');
    const short = batcher((items) => Promise.resolve(items.slice(1).map(String)));
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => short.b.add(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
  });
});
