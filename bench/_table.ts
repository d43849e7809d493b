// The table of BENCHMARKS.md, rendered from one results file of `pnpm bench all` (bench/results/*.json):
// one row per goal of issue 18, its raw floor and latest figure read from the bench's last JSON line.
// A key a bench does not print shows as "n/a" (and its goal as not decidable), never as a guess.
// Pure functions only: `pnpm bench table <results.json>` (scripts/bench.mjs) reads and writes the files.

/** One bench run of a sequence: the bench's last JSON line, or why there is none. */
export interface BenchRun {
  readonly bench: string;
  readonly args: readonly string[];
  readonly ok: boolean;
  readonly error?: string;
  readonly seconds: number;
  readonly load_avg_before: readonly number[];
  readonly load_avg_after: readonly number[];
  readonly result?: Record<string, unknown>;
}

/** A results file: one sequence of runs, with the commit and the machine they ran on. */
export interface BenchResults {
  readonly started_at: string;
  readonly finished_at: string;
  readonly commit: string;
  readonly dirty: boolean;
  readonly note?: string;
  readonly machine: Record<string, unknown>;
  readonly load_avg_before: readonly number[];
  readonly load_avg_after: readonly number[];
  readonly runs: Readonly<Record<string, BenchRun>>;
}

type Json = Record<string, unknown>;

/** How a row decides `met`: yes, no, or undefined when a figure it needs is missing. */
type Met = (j: Json) => boolean | undefined;

interface Row {
  /** The run id in `BenchResults.runs`. */
  readonly run: string;
  readonly label: string;
  readonly what: string;
  readonly floor: (j: Json) => string | undefined;
  readonly latest: (j: Json) => string | undefined;
  readonly goal: string;
  /** Absent: the bench has no goal (met shows "—"). */
  readonly met?: Met;
}

export const TABLE_START = '<!-- bench-table:start (rendered by `pnpm bench table`; do not edit) -->';
export const TABLE_END = '<!-- bench-table:end -->';

/** The number at a dotted path of `j`, if it is one. */
export function num(j: Json, path: string): number | undefined {
  let v: unknown = j;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Json)[key];
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function fmt(n: number): string {
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 100) return String(Math.round(n));
  return String(Math.round(n * 100) / 100);
}

/**
 * The floor a bench gives: under `floor_events_per_s` or `floor_per_s`, under the key its `floor` names
 * (`"floor": "raw_read_per_s"`), else under its first numeric `floor_*` key.
 */
function genericFloor(j: Json): string | undefined {
  const named = typeof j.floor === 'string' && /^\w+$/.test(j.floor) ? num(j, j.floor) : undefined;
  const rate = num(j, 'floor_events_per_s') ?? num(j, 'floor_per_s') ?? named;
  if (rate !== undefined) return `${fmt(rate)}/s`;
  const key = Object.keys(j).find((k) => k.startsWith('floor_') && num(j, k) !== undefined);
  return key === undefined ? undefined : `${fmt(num(j, key)!)} (${key})`;
}

function ratio(j: Json, path = 'ratio_vs_floor'): string | undefined {
  const r = num(j, path);
  return r === undefined
    ? undefined
    : `${Math.abs(r) >= 10 ? fmt(r) : String(Math.round(r * 1000) / 1000)} ×`;
}

const atLeast =
  (goal: number, path = 'ratio_vs_floor'): Met =>
  (j) => {
    const r = num(j, path);
    return r === undefined ? undefined : r >= goal;
  };

const atMost =
  (goal: number, path: string): Met =>
  (j) => {
    const r = num(j, path);
    return r === undefined ? undefined : r <= goal;
  };

/** Every path present and each within its bound. */
const allAtMost =
  (bounds: Readonly<Record<string, number>>): Met =>
  (j) => {
    const checks = Object.entries(bounds).map(([path, bound]) => atMost(bound, path)(j));
    return checks.includes(undefined) ? undefined : checks.every(Boolean);
  };

/** A row of a bench whose goal is `ratio_vs_floor` at least `goal`. */
function floorRow(run: string, label: string, what: string, floor: string, goal?: number): Row {
  return {
    run,
    label,
    what,
    floor: (j) => {
      const f = genericFloor(j);
      return f === undefined ? undefined : `${floor}: ${f}`;
    },
    latest: (j) => ratio(j),
    goal: goal === undefined ? '—' : `≥ ${goal} × floor`,
    ...(goal === undefined ? {} : { met: atLeast(goal) }),
  };
}

/** Not growing: the RSS slope over a soak's second half at most this many MB a minute. */
export const FLAT_MB_PER_MIN = 1;

export const ROWS: readonly Row[] = [
  {
    run: 'machine',
    label: 'machine',
    what: 'acked JetStream publish latency paced at 1,000/s; CPU of an idle event-loop wake-up',
    floor: () => '—',
    latest: (j) => {
      const p99 = num(j, 'acked_publish_latency_ms.at_1000_per_s.p99');
      const wake = num(j, 'wakeup_cpu_us');
      return p99 === undefined || wake === undefined
        ? undefined
        : `p99 ${fmt(p99)} ms; wake-up ${fmt(wake)} µs`;
    },
    goal: '—',
  },
  floorRow(
    'validate',
    'validate',
    '`wbx validate` on 1,000,000 generated events, a process of its own',
    'line split + JSON.parse',
  ),
  floorRow('seal', 'seal', 'sealing one event on one core', 'raw sign + disclosure hashing', 0.8),
  floorRow(
    'verify',
    'verify',
    'verifying one sealed event on one core',
    'raw verify + disclosure hashing',
    0.85,
  ),
  floorRow(
    'receive',
    'receive',
    'RS receiving presentations: verify, dedupe, store in its inbox',
    'raw verify + hashing',
    0.8,
  ),
  floorRow(
    'ingest',
    'ingest, SubmitStream',
    'gRPC SubmitStream into a gateway: validate, seal, publish, receipt',
    'bare gRPC + raw publish + raw sign',
    0.8,
  ),
  {
    run: 'ingest',
    label: 'ingest, unary at 1,000/s',
    what: 'latency of unary Submit paced at 1,000/s',
    floor: () => '—',
    latest: (j) => {
      const p50 = num(j, 'submit_latency.p50_ms');
      const p99 = num(j, 'submit_latency.p99_ms');
      return p50 === undefined || p99 === undefined ? undefined : `p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms`;
    },
    goal: 'keep p50 ≤ 1.8 ms, p99 ≤ 24 ms',
    met: allAtMost({ 'submit_latency.p50_ms': 1.8, 'submit_latency.p99_ms': 24 }),
  },
  {
    run: 'ingest',
    label: 'memory, under ingest',
    what: "the gateway process's peak RSS during the ingest bench",
    floor: (j) => {
      const idle = num(j, 'gateway_rss_mb.idle');
      return idle === undefined ? undefined : `idle ${fmt(idle)} MB`;
    },
    latest: (j) => {
      const peak = num(j, 'gateway_rss_mb.peak');
      return peak === undefined ? undefined : `peak ${fmt(peak)} MB`;
    },
    goal: '≤ 256 MB peak',
    met: atMost(256, 'gateway_rss_mb.peak'),
  },
  {
    run: 'soak',
    label: 'soak',
    what: 'gateway RSS under steady SubmitStream with sharing to 3 recipients, 10 minutes',
    floor: (j) => {
      const idle = num(j, 'gateway_rss_mb.idle');
      return idle === undefined ? undefined : `idle ${fmt(idle)} MB`;
    },
    latest: (j) => {
      const peak = num(j, 'gateway_rss_mb.peak');
      const slope = num(j, 'gateway_rss_mb.slope_mb_per_min');
      return peak === undefined || slope === undefined
        ? undefined
        : `peak ${fmt(peak)} MB, ${fmt(slope)} MB/min (2nd half)`;
    },
    goal: `≤ 256 MB peak, flat (≤ ${FLAT_MB_PER_MIN} MB/min)`,
    met: allAtMost({ 'gateway_rss_mb.peak': 256, 'gateway_rss_mb.slope_mb_per_min': FLAT_MB_PER_MIN }),
  },
  {
    run: 'e2e',
    label: 'e2e at 1,000/s',
    what: 'MK SubmitStream → receipt → share → RS inbox, p99, paced at 1,000/s',
    floor: (j) => {
      const p99 = num(j, 'raw_chain_latency_ms.p99');
      return p99 === undefined ? undefined : `raw chain p99 ${fmt(p99)} ms`;
    },
    latest: (j) => {
      const r = ratio(j, 'ratio_p99_vs_raw_chain');
      const p99 = num(j, 'latency_ms.p99');
      return r === undefined ? undefined : p99 === undefined ? r : `${r} (p99 ${fmt(p99)} ms)`;
    },
    goal: '≤ 3 × raw chain',
    met: atMost(3, 'ratio_p99_vs_raw_chain'),
  },
  {
    run: 'e2e',
    label: 'e2e at 100/s',
    what: 'the same at 100/s',
    floor: (j) => {
      const p99 = num(j, 'raw_chain_latency_ms_100.p99');
      return p99 === undefined ? undefined : `raw chain p99 ${fmt(p99)} ms`;
    },
    latest: (j) => {
      const r = ratio(j, 'ratio_p99_vs_raw_chain_100');
      const p99 = num(j, 'latency_ms_100.p99');
      return r === undefined ? undefined : p99 === undefined ? r : `${r} (p99 ${fmt(p99)} ms)`;
    },
    goal: '≤ 1.5 × raw chain',
    met: atMost(1.5, 'ratio_p99_vs_raw_chain_100'),
  },
  floorRow(
    'share',
    'share',
    "MK's share worker presenting and auditing each event for 3 recipients",
    'raw publish of the presentations',
    0.5,
  ),
  floorRow(
    'share-subject-refs',
    'share, subject refs',
    'the same with subject-reference bindings granted',
    'raw publish of the presentations',
    0.5,
  ),
  floorRow(
    'query',
    'query',
    'Query over mTLS, streamed pages of presentations',
    'raw read of the same messages',
    0.5,
  ),
  {
    run: 'match',
    label: 'match',
    what: 'Match over 1,000 references: first call after start against steady p50',
    floor: (j) => {
      const p50 = num(j, 'p50_ms');
      return p50 === undefined ? undefined : `steady p50 ${fmt(p50)} ms`;
    },
    latest: (j) => {
      const r = ratio(j);
      const first = num(j, 'first_call_ms');
      return r === undefined ? undefined : first === undefined ? r : `${r} (first ${fmt(first)} ms)`;
    },
    goal: 'first call ≤ 2 × steady',
    met: atMost(2, 'ratio_vs_floor'),
  },
  floorRow(
    'cluster',
    'cluster',
    'ingest + share on a 3-node JetStream cluster, streams at R3, one gateway',
    'raw R3 publish',
  ),
  {
    ...floorRow(
      'analytics',
      'analytics',
      'analytics node: inbox ingest into DuckDB; dashboard views over HTTP',
      'raw inbox read',
    ),
    latest: (j) => {
      const r = ratio(j);
      const worst = num(j, 'worst_p99_ms');
      return r === undefined ? undefined : worst === undefined ? r : `${r}; worst view p99 ${fmt(worst)} ms`;
    },
    goal: 'views p99 < 100 ms (issue 17)',
    met: (j) => {
      const worst = num(j, 'worst_p99_ms');
      return worst === undefined ? undefined : worst < 100;
    },
  },
];

function cell(s: string): string {
  return s.replaceAll('|', '\\|');
}

function load(l: readonly number[]): string {
  return l.map((x) => x.toFixed(1)).join(' / ');
}

/** The table section (between the markers, without them) for one results file. */
export function renderTable(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    `Run of ${results.started_at.slice(0, 16).replace('T', ' ')} UTC, commit \`${results.commit}\`` +
      `${results.dirty ? ' (with uncommitted changes)' : ''}; machine: ${String(m.cpu)}, ${String(m.cores)} cores, ` +
      `${String(m.mem_gb)} GiB, Node.js ${String(m.node)}` +
      `${typeof m.nats_server === 'string' ? `, ${m.nats_server}` : ''}; load average (1/5/15 min) ` +
      `${load(results.load_avg_before)} before, ${load(results.load_avg_after)} after.`,
  ];
  if (results.note !== undefined && results.note !== '') lines.push('', `**${results.note}**`);
  lines.push(
    '',
    '| bench | what it measures | raw floor | latest | goal | met |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  const failures: string[] = [];
  for (const row of ROWS) {
    const run = results.runs[row.run];
    const j = run?.ok === true ? (run.result ?? {}) : undefined;
    const why = run === undefined ? 'not run' : run.ok ? 'n/a' : 'failed';
    if (run !== undefined && !run.ok && !failures.some((f) => f.startsWith(`\`${row.run}\``)))
      failures.push(`\`${row.run}\`: ${(run.error ?? 'no JSON line').split('\n')[0]?.slice(0, 200) ?? ''}`);
    const floor = j === undefined ? why : (row.floor(j) ?? 'n/a');
    const latest = j === undefined ? why : (row.latest(j) ?? 'n/a');
    const met = row.met === undefined ? '—' : j === undefined ? why : metWord(row.met(j));
    lines.push(`| ${[row.label, row.what, floor, latest, row.goal, met].map(cell).join(' | ')} |`);
  }
  if (failures.length > 0) lines.push('', 'Failed runs:', '', ...failures.map((f) => `- ${cell(f)}`));
  return lines.join('\n');
}

function metWord(m: boolean | undefined): string {
  return m === undefined ? 'n/a' : m ? 'yes' : 'no';
}

/** `doc` with the text between TABLE_START and TABLE_END replaced by `table`. */
export function replaceTable(doc: string, table: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error('BENCHMARKS.md has no bench-table markers');
  return `${doc.slice(0, start + TABLE_START.length)}\n\n${table}\n\n${doc.slice(end)}`;
}
