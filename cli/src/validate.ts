import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

import { validateLine, type Violation, type ViolationCode } from '@wbx/schema';

import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { readLines } from './lines.js';
import { Progress } from './progress.js';

export interface ValidateSummary {
  lines: number;
  valid: number;
  invalid: number;
  /** Violations counted by code. */
  byCode: Partial<Record<ViolationCode, number>>;
}

export interface ValidateCommandOptions {
  file?: string;
  json?: boolean;
  maxLineBytes?: number;
}

export const MAX_LINE_BYTES = 1 << 20;

/** Opens `--file`, or stdin when there is none (or it is "-"), as a byte stream. */
export async function openInput(io: CliIo, file: string | undefined): Promise<Readable> {
  if (file === undefined || file === '-') return io.stdin;
  const stream = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e) =>
      reject(new CliError('IO', `cannot read ${file}: ${e.message}`, { cause: e })),
    );
  });
  return stream;
}

function formatViolation(line: number, v: Violation, json: boolean): string {
  if (json) return `${JSON.stringify({ line, path: v.path, code: v.code, message: v.message })}\n`;
  return `line ${line}: ${v.path === '' ? '(line)' : v.path} ${v.code}: ${v.message}\n`;
}

/**
 * `wbx validate`: streams NDJSON events, reports every violation of every invalid line (line number,
 * path, code) on stdout, a summary on stderr; exits 0 only when every line is valid. Blank lines are
 * skipped. Memory stays flat whatever the input size: lines are never held beyond the one in hand.
 */
export async function validateCommand(io: CliIo, options: ValidateCommandOptions): Promise<number> {
  const input = await openInput(io, options.file);
  const json = options.json ?? false;
  const now = io.now();
  const summary: ValidateSummary = { lines: 0, valid: 0, invalid: 0, byCode: {} };
  const progress = new Progress(io.stderr, io.interactive, 'validated');
  const maxBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  for await (const line of readLines(input, maxBytes)) {
    if (!line.tooLong && line.text.trim() === '') continue;
    summary.lines += 1;
    progress.tick();
    let violations: readonly Violation[] = [];
    if (line.tooLong)
      violations = [{ path: '', code: 'TOO_LONG', message: `line longer than ${maxBytes} bytes` }];
    else {
      const result = validateLine(line.text, { now });
      if (!result.ok) violations = result.violations;
    }
    if (violations.length === 0) {
      summary.valid += 1;
      continue;
    }
    summary.invalid += 1;
    for (const v of violations) {
      summary.byCode[v.code] = (summary.byCode[v.code] ?? 0) + 1;
      await write(io.stdout, formatViolation(line.number, v, json));
    }
  }
  progress.done();
  const codes = Object.entries(summary.byCode)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  await write(
    io.stderr,
    `${summary.lines} events: ${summary.valid} valid, ${summary.invalid} invalid${codes ? ` (${codes})` : ''}\n`,
  );
  return summary.invalid === 0 ? 0 : 1;
}
