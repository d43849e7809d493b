// Reads a gateway's per-hop ingest timings (wbx_stage_latency_ms, filled when it runs with
// WBX_TRACE_SAMPLE=N) and its process figures from its /metrics.

/** Per stage: sampled count, mean and bucket-estimated p50/p99 (upper bound of the bucket), ms. */
export interface StageFigures {
  readonly n: number;
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
}

/** One sample line `name{labels} value` of a Prometheus text exposition. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const kv of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[kv[1]!] = kv[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

export async function scrape(http: string): Promise<string> {
  const res = await fetch(`http://${http}/metrics`);
  return res.text();
}

/** The value of an unlabelled sample (`wbx_process_resident_memory_bytes` …), NaN when absent. */
export function gauge(text: string, name: string): number {
  return samples(text, name)[0]?.value ?? Number.NaN;
}

/** wbx_stage_latency_ms per stage, minus `before` (an earlier scrape), so that a window can be read. */
export function stageFigures(text: string, before = ''): Record<string, StageFigures> {
  const read = (t: string): Map<string, { buckets: [number, number][]; sum: number; count: number }> => {
    const stages = new Map<string, { buckets: [number, number][]; sum: number; count: number }>();
    const of = (stage: string) => {
      let s = stages.get(stage);
      if (s === undefined) stages.set(stage, (s = { buckets: [], sum: 0, count: 0 }));
      return s;
    };
    for (const { labels, value } of samples(t, 'wbx_stage_latency_ms_bucket'))
      of(labels.stage ?? '').buckets.push([Number(labels.le), value]);
    for (const { labels, value } of samples(t, 'wbx_stage_latency_ms_sum'))
      of(labels.stage ?? '').sum = value;
    for (const { labels, value } of samples(t, 'wbx_stage_latency_ms_count'))
      of(labels.stage ?? '').count = value;
    return stages;
  };
  const now = read(text);
  const then = read(before);
  const out: Record<string, StageFigures> = {};
  for (const [stage, s] of now) {
    const b = then.get(stage);
    const count = s.count - (b?.count ?? 0);
    if (count <= 0) continue;
    const buckets = s.buckets.map(([le, c], i) => [le, c - (b?.buckets[i]?.[1] ?? 0)] as const);
    const at = (q: number): number => buckets.find(([, c]) => c >= q * count)?.[0] ?? Number.NaN;
    out[stage] = {
      n: count,
      mean: Math.round((100 * (s.sum - (b?.sum ?? 0))) / count) / 100,
      p50: at(0.5),
      p99: at(0.99),
    };
  }
  return out;
}
