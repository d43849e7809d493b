import { describe, expect, it } from 'vitest';

import {
  type BenchResults,
  type BenchRun,
  renderTable,
  replaceTable,
  TABLE_END,
  TABLE_START,
} from '../_table.ts';

const run = (bench: string, result: Record<string, unknown>): BenchRun => ({
  bench,
  args: [],
  ok: true,
  seconds: 1,
  load_avg_before: [1, 1, 1],
  load_avg_after: [1, 1, 1],
  result,
});

function results(runs: Record<string, BenchRun>): BenchResults {
  return {
    started_at: '2026-12-05T03:00:00.000Z',
    finished_at: '2026-12-05T03:30:00.000Z',
    commit: 'abc1234',
    dirty: false,
    machine: { cpu: 'AMD EPYC', cores: 2, mem_gb: 24, node: 'v24.21.0' },
    load_avg_before: [0.5, 0.4, 0.3],
    load_avg_after: [2, 1.5, 1],
    runs,
  };
}

/** The row whose first cell is `label`, as its cells. */
function row(table: string, label: string): string[] {
  const line = table.split('\n').find((l) => l.startsWith(`| ${label} |`));
  if (line === undefined) throw new Error(`no row ${label} in\n${table}`);
  return line
    .slice(2, -2)
    .split(' | ')
    .map((c) => c.trim());
}
const met = (table: string, label: string): string => row(table, label).at(-1)!;

describe('renderTable', () => {
  it('decides met against each goal, in its direction, at the bound', () => {
    const table = renderTable(
      results({
        seal: run('seal', { floor_events_per_s: 30_000, ratio_vs_floor: 0.8 }),
        verify: run('verify', { floor_events_per_s: 9_000, ratio_vs_floor: 0.849 }),
        receive: run('receive', { ratio_vs_floor: 0.81 }),
        query: run('query', { floor: 'raw_read_per_s', raw_read_per_s: 50_000, ratio_vs_floor: 0.079 }),
        match: run('match', { p50_ms: 8, first_call_ms: 17, ratio_vs_floor: 2.1 }),
        e2e: run('e2e', {
          latency_ms: { p99: 90 },
          raw_chain_latency_ms: { p99: 30 },
          ratio_p99_vs_raw_chain: 3,
          latency_ms_100: { p99: 20 },
          raw_chain_latency_ms_100: { p99: 10 },
          ratio_p99_vs_raw_chain_100: 2,
        }),
        ingest: run('ingest', {
          ratio_vs_floor: 0.9,
          submit_latency: { p50_ms: 1.5, p99_ms: 30 },
          gateway_rss_mb: { idle: 120, peak: 256 },
        }),
        soak: run('soak', { gateway_rss_mb: { idle: 130, peak: 200, slope_mb_per_min: 3 } }),
      }),
    );
    expect(met(table, 'seal')).toBe('yes');
    expect(met(table, 'verify')).toBe('no');
    expect(met(table, 'receive')).toBe('yes');
    expect(met(table, 'query')).toBe('no');
    expect(met(table, 'match')).toBe('no');
    expect(met(table, 'e2e at 1,000/s')).toBe('yes');
    expect(met(table, 'e2e at 100/s')).toBe('no');
    expect(met(table, 'ingest, SubmitStream')).toBe('yes');
    expect(met(table, 'ingest, unary at 1,000/s')).toBe('no');
    expect(met(table, 'memory, under ingest')).toBe('yes');
    expect(met(table, 'soak')).toBe('no');
    expect(row(table, 'seal')[2]).toBe('raw sign + disclosure hashing: 30,000/s');
    expect(row(table, 'seal')[3]).toBe('0.8 ×');
    expect(row(table, 'query').slice(2, 4)).toEqual(['raw read of the same messages: 50,000/s', '0.079 ×']);
    expect(row(table, 'e2e at 1,000/s').slice(2, 4)).toEqual(['raw chain p99 30 ms', '3 × (p99 90 ms)']);
  });

  it('shows a missing key as n/a, a bench not run or failed as such, and no goal as —', () => {
    const failed: BenchRun = { ...run('share', {}), ok: false, error: 'exit code 1: boom' };
    const { result: _, ...withoutResult } = failed;
    const table = renderTable(
      results({
        seal: run('seal', { ratio_vs_raw_sign: 0.9 }),
        share: withoutResult,
        cluster: run('cluster', { floor_events_per_s: 4_000, ratio_vs_floor: 0.5 }),
      }),
    );
    expect(row(table, 'seal').slice(2)).toEqual(['n/a', 'n/a', '≥ 0.8 × floor', 'n/a']);
    expect(row(table, 'share').slice(2)).toEqual(['failed', 'failed', '≥ 0.5 × floor', 'failed']);
    expect(row(table, 'verify').at(-1)).toBe('not run');
    expect(met(table, 'cluster')).toBe('—');
    expect(table).toContain('- `share`: exit code 1: boom');
  });

  it('replaces only the text between the markers', () => {
    const doc = `# B\n\nbefore\n\n${TABLE_START}\n\nold table\n\n${TABLE_END}\n\nafter\n`;
    const out = replaceTable(doc, 'new table');
    expect(out).toBe(`# B\n\nbefore\n\n${TABLE_START}\n\nnew table\n\n${TABLE_END}\n\nafter\n`);
    expect(() => replaceTable('# no markers', 'x')).toThrow(/markers/);
  });
});
