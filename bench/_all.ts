// pnpm bench all [--only a,b] [--skip a,b] [--note '<text>'] [--timeout-min M]
// Runs every benchmark, one after the other, each as a child process (`node bench/<name>.ts <args>`), with
// the options BENCHMARKS.md's table needs, and writes bench/results/<date>-<commit>.json: the commit (and
// whether the tree had uncommitted changes), the machine, the load average before and after each run
// and the whole sequence, and each bench's last JSON line. A bench that fails (exit code, no JSON line,
// timeout) is recorded with its error and the sequence goes on. Each bench's whole output goes to
// bench/results/<date>-<commit>.log (not committed). `pnpm bench table <file>` renders the table from it.
// --only / --skip take run ids or bench names (e.g. `--skip soak`, `--only validate,seal`).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg, release } from 'node:os';
import { join } from 'node:path';

import type { BenchResults, BenchRun } from './_table.ts';
import { machine } from './_common.ts';

interface Planned {
  readonly id: string;
  readonly bench: string;
  readonly args: readonly string[];
}

/** The runs of a sequence, in order; a bench/*.ts not named here runs after them without options. */
const PLAN: readonly Planned[] = [
  { id: 'machine', bench: 'machine', args: [] },
  { id: 'validate', bench: 'validate', args: [] },
  { id: 'seal', bench: 'seal', args: [] },
  { id: 'verify', bench: 'verify', args: [] },
  { id: 'receive', bench: 'receive', args: [] },
  { id: 'ingest', bench: 'ingest', args: ['--events', '20000'] },
  { id: 'e2e', bench: 'e2e', args: [] },
  { id: 'share', bench: 'share', args: [] },
  { id: 'share-subject-refs', bench: 'share', args: ['--subject-refs'] },
  { id: 'query', bench: 'query', args: [] },
  { id: 'match', bench: 'match', args: [] },
  { id: 'cluster', bench: 'cluster', args: [] },
  { id: 'analytics', bench: 'analytics', args: [] },
  { id: 'soak', bench: 'soak', args: [] },
];

const root = join(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
};
const list = (name: string): string[] | undefined =>
  option(name)
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const only = list('only');
const skip = list('skip') ?? [];
const timeoutMs = Number(option('timeout-min') ?? 30) * 60_000;
const note = option('note');

const benches = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const plan = [
  ...PLAN.filter((p) => benches.includes(p.bench)),
  ...benches.filter((b) => !PLAN.some((p) => p.bench === b)).map((b) => ({ id: b, bench: b, args: [] })),
].filter(
  (p) =>
    (only === undefined || only.includes(p.id) || only.includes(p.bench)) &&
    !skip.includes(p.id) &&
    !skip.includes(p.bench),
);
const known = (n: string): boolean => PLAN.some((p) => p.id === n) || benches.includes(n);
const unknown = [...(only ?? []), ...skip].filter((n) => !known(n));
if (unknown.length > 0 || plan.length === 0) {
  console.error(`unknown or no runs: ${unknown.join(', ')} (runs: ${PLAN.map((p) => p.id).join(', ')})`);
  process.exit(2);
}

const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--short', 'HEAD');
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
const startedAt = new Date();
const stem = `${startedAt.toISOString().slice(0, 16).replaceAll(':', '')}-${commit}`;
const dir = join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${stem}.json`);
const log = join(dir, `${stem}.log`);
const load = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100);

/** The nats-server the benchmarks start (WBX_NATS_SERVER, else the one on PATH), by its version. */
const natsServer = ((): string => {
  try {
    return execFileSync(process.env.WBX_NATS_SERVER ?? 'nats-server', ['--version'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
})();
const loadBefore = load();
const runs: Record<string, BenchRun> = {};
const write = (): void => {
  const results: BenchResults = {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    commit,
    dirty,
    ...(note === undefined ? {} : { note }),
    machine: { ...machine(), kernel: release(), nats_server: natsServer },
    load_avg_before: loadBefore,
    load_avg_after: load(),
    runs,
  };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
};

// Each bench runs in a process group of its own (so a timeout can end it with its nats-servers and
// gateways); an interrupt here must then end that group too, and still leave the results so far.
let current: number | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    if (current !== undefined) killGroup(current, 'SIGTERM');
    write();
    console.error(`\ninterrupted (${signal}); results so far in ${file}`);
    process.exit(130);
  });

console.log(`bench all: ${plan.map((p) => p.id).join(', ')}; commit ${commit}${dirty ? ' (dirty)' : ''}`);
console.log(`results: ${file}\nfull output: ${log}`);
for (const p of plan) {
  const before = load();
  const started = performance.now();
  console.log(
    `\n[${new Date().toISOString().slice(11, 19)}] ${p.id}: node bench/${p.bench}.ts ${p.args.join(' ')}`,
  );
  appendFileSync(log, `\n===== ${p.id}: ${[p.bench, ...p.args].join(' ')} (${new Date().toISOString()})\n`);
  const { code, stdout, stderr, timedOut } = await runChild(p);
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const result = lastJson(stdout);
  const error = timedOut
    ? `timed out after ${timeoutMs / 60_000} min`
    : code !== 0
      ? `exit code ${code}: ${tail(stderr || stdout)}`
      : result === undefined
        ? `no JSON object on the last line: ${tail(stdout)}`
        : undefined;
  runs[p.id] = {
    bench: p.bench,
    args: p.args,
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    seconds,
    load_avg_before: before,
    load_avg_after: load(),
    ...(result === undefined ? {} : { result }),
  };
  write();
  console.log(
    `${p.id}: ${error === undefined ? 'ok' : `FAILED (${error.split('\n')[0] ?? ''})`}, ${seconds} s`,
  );
}
write();
const failed = Object.entries(runs).filter(([, r]) => !r.ok);
console.log(
  `\nwrote ${file}; ${failed.length === 0 ? 'every run gave its JSON line' : `failed: ${failed.map(([id]) => id).join(', ')}`}`,
);
console.log(`render the table: pnpm bench table ${join('bench', 'results', `${stem}.json`)}`);

/** Runs one bench in a process group of its own (killed whole on timeout); its output also goes to the log. */
function runChild(p: Planned): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bench', `${p.bench}.ts`), ...p.args], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    current = child.pid;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      appendFileSync(log, s);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      appendFileSync(log, s);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      stderr += String(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      current = undefined;
      resolve({ code: code ?? 1, stdout, stderr, timedOut });
    });
  });
}

/** The last non-empty line of `out`, if it is a JSON object. */
function lastJson(out: string): Record<string, unknown> | undefined {
  const line = out.trimEnd().split('\n').at(-1)?.trim() ?? '';
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines of `s` that are not stack frames (the error message, not where it was thrown). */
function tail(s: string): string {
  const lines = s
    .trimEnd()
    .split('\n')
    .filter((l) => !/^\s+at /.test(l) && l.trim() !== '');
  const message = lines.findLast((l) => /error/i.test(l)) ?? lines.at(-1) ?? '';
  return [message, ...lines.slice(-5)].join('\n').slice(0, 1_000);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
