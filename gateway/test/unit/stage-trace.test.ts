import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { GatewayMetrics } from '../../src/metrics.js';
import { StageTrace } from '../../src/stage-trace.js';

const silent = pino({ level: 'silent' });

async function counts(metrics: GatewayMetrics): Promise<Record<string, number>> {
  const metric = await metrics.stageLatency.get();
  return Object.fromEntries(
    metric.values
      .filter((v) => v.metricName === 'wbx_stage_latency_ms_count')
      .map((v) => [String(v.labels.stage), v.value]),
  );
}

describe('StageTrace', () => {
  it('times every N-th submission, each hop once, and none when off', async () => {
    const metrics = new GatewayMetrics();
    const trace = new StageTrace(3, metrics.stageLatency, silent);
    const started = Array.from({ length: 7 }, () => trace.start());
    expect(started.map((t) => t !== undefined)).toEqual([false, false, true, false, false, true, false]);
    for (const t of started) {
      t?.mark('validated');
      t?.mark('sealed');
      t?.mark('stored');
      t?.mark('answered');
      t?.done('e');
    }
    expect(await counts(metrics)).toEqual({
      ingest_validated: 2,
      ingest_sealed: 2,
      ingest_stored: 2,
      ingest_answered: 2,
    });
    const off = new StageTrace(0, new GatewayMetrics().stageLatency, silent);
    expect(Array.from({ length: 5 }, () => off.start())).toEqual(Array(5).fill(undefined));
  });

  it('reads its sample rate from WBX_TRACE_SAMPLE, off unless a positive integer', () => {
    expect(StageTrace.everyFromEnv({ WBX_TRACE_SAMPLE: '10' })).toBe(10);
    expect(StageTrace.everyFromEnv({})).toBe(0);
    expect(StageTrace.everyFromEnv({ WBX_TRACE_SAMPLE: '-1' })).toBe(0);
    expect(StageTrace.everyFromEnv({ WBX_TRACE_SAMPLE: 'x' })).toBe(0);
  });
});
