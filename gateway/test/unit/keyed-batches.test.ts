import { describe, expect, it } from 'vitest';

import { KeyedBatches } from '../../src/keyed-batches.js';

describe('KeyedBatches', () => {
  it('handles the items added in one turn for a key as one batch, and each key on its own', async () => {
    const batches: [string, readonly number[]][] = [];
    const keyed = new KeyedBatches<number>((key, items) => {
      batches.push([key, items]);
      return Promise.resolve();
    });
    await Promise.all([1, 2, 3].flatMap((i) => [keyed.add('a', i), keyed.add('b', 10 * i)]));
    expect(batches).toEqual([
      ['a', [1, 2, 3]],
      ['b', [10, 20, 30]],
    ]);
  });

  it('runs one batch of a key at a time; what comes meanwhile makes the next batch', async () => {
    const batches: (readonly number[])[] = [];
    let running = 0;
    let release: () => void = () => undefined;
    const keyed = new KeyedBatches<number>(async (_key, items) => {
      running += 1;
      expect(running).toBe(1);
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      running -= 1;
    });
    const first = keyed.add('k', 1);
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]);
    const later = [2, 3, 4].map((i) => keyed.add('k', i));
    release();
    await Promise.all([first, ...later]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("rejects every item of a failed batch with its error, and only that batch's", async () => {
    let calls = 0;
    const keyed = new KeyedBatches<number>(() => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error('write failed')) : Promise.resolve();
    });
    const failed = [1, 2].map((i) => keyed.add('k', i));
    const results = await Promise.allSettled(failed);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(keyed.add('k', 3)).resolves.toBeUndefined();
  });
});
