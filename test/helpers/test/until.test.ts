import { describe, expect, it } from 'vitest';

import { until } from '../src/index.js';

describe('until', () => {
  it('resolves with the first value that is neither undefined nor false', async () => {
    let calls = 0;
    const value = await until(
      'the third call',
      () => (++calls === 3 ? { calls } : calls === 1 ? false : undefined),
      1_000,
      1,
    );
    expect(value).toEqual({ calls: 3 });
  });

  it('rejects after the timeout, naming what it waited for', async () => {
    await expect(until('something that never comes', () => undefined, 100, 10)).rejects.toThrow(
      'timed out after 100 ms waiting for something that never comes',
    );
  });

  it('rejects at once when the probe throws', async () => {
    await expect(until('x', () => Promise.reject(new Error('probe failed')), 5_000)).rejects.toThrow(
      'probe failed',
    );
  });
});
