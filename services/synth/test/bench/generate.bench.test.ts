import { describe, expect, it } from 'vitest';

import { eventToNdjsonLine, generateEvents } from '../../src/index.js';

/**
 * Generation speed, not a test: skipped unless WBX_BENCH is set, prints its figures, never fails on time.
 *   WBX_BENCH=1 pnpm vitest run services/synth/test/bench
 */
const COUNT = 1_000_000;

describe.skipIf(process.env.WBX_BENCH === undefined)('generateEvents (benchmark)', () => {
  it(`renders ${COUNT.toLocaleString('en')} RS events as NDJSON`, { timeout: 600_000 }, () => {
    const started = performance.now();
    let bytes = 0;
    const events = generateEvents({
      partner: 'RS',
      count: COUNT,
      seed: 'bench',
      from: new Date('2022-01-01T00:00:00Z'),
      to: new Date('2024-01-01T00:00:00Z'),
    });
    for (const e of events) bytes += eventToNdjsonLine(e).length + 1;
    const seconds = (performance.now() - started) / 1000;
    const heap = process.memoryUsage().heapUsed / 1e6;
    console.log(
      `synth: ${Math.round(COUNT / seconds).toLocaleString('en')} events/s ` +
        `(${(bytes / 1e6).toFixed(0)} MB of NDJSON in ${seconds.toFixed(1)} s, heap ${heap.toFixed(0)} MB)`,
    );
    expect(bytes).toBeGreaterThan(0);
  });
});
