import { PassThrough, Readable } from 'node:stream';

import { runCli } from './program.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `wbx` in-process with piped streams; `now` fixes the clock. */
export async function wbx(argv: string[], options: { stdin?: string; now?: Date } = {}): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (b: Buffer) => chunks.out.push(b));
  stderr.on('data', (b: Buffer) => chunks.err.push(b));
  const now = options.now ?? new Date('2024-06-01T12:00:00Z');
  const code = await runCli(argv, {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout,
    stderr,
    interactive: false,
    now: () => now,
  });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}
