// Shared bits of the benchmarks: machine description and child-process runs with peak RSS.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

import { wbxBinary } from '@wbx/cli';

/** The built `wbx` executable, run as a process of its own. */
export const wbxBin = wbxBinary();

export function machine(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    mem_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

export interface ChildRun {
  code: number;
  seconds: number;
  peakRssMb: number;
  stderr: string;
}

/** Runs `node --import _rss.mjs <args>`, measuring wall time and the child's peak RSS. */
export async function runNode(
  args: readonly string[],
  stdout: 'ignore' | number = 'ignore',
): Promise<ChildRun> {
  const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-rss-'));
  const rssFile = join(dir, 'rss');
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', join(import.meta.dirname, '_rss.mjs'), ...args], {
    env: { ...process.env, WBX_RSS_FILE: rssFile },
    stdio: ['ignore', stdout, 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  const seconds = (performance.now() - started) / 1000;
  const peakRssMb = Number(readFileSync(rssFile, 'utf8')) / 1024;
  return { code, seconds, peakRssMb, stderr };
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** CPU seconds (user + system) a process has used so far (Linux clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The value at quantile `q` of ascending `sorted`. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Runs `fn` over `items` with at most `window` calls in flight; resolves to the seconds it took. */
export async function pipelined<T>(
  items: readonly T[],
  window: number,
  fn: (item: T) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(window, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
  return (performance.now() - started) / 1000;
}
