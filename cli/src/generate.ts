import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

import { isPartnerCode, PARTNER_CODES } from '@wbx/schema';
import { eventToNdjsonLine, generateEvents } from '@wbx/synth';

import { parseCliDate } from './dates.js';
import { CliError } from './errors.js';
import { finish, write, type CliIo } from './io.js';
import { Progress } from './progress.js';

export interface GenerateCommandOptions {
  partner: string;
  count: string;
  seed: string;
  from?: string;
  to?: string;
  out?: string;
}

/** Default window: one day in September 2023, when the route was busy. Fixed, so output is reproducible. */
export const DEFAULT_FROM = '2023-09-01';
export const MAX_COUNT = 100_000_000;

export interface GenerateRequest {
  partner: string;
  count: number;
  seed: string;
  from: Date;
  to: Date;
}

/** Checks the flags of `wbx generate` and turns them into a request, or throws a USAGE CliError. */
export function parseGenerateOptions(options: GenerateCommandOptions, now: Date): GenerateRequest {
  if (!isPartnerCode(options.partner)) {
    throw new CliError(
      'USAGE',
      `--partner: "${options.partner}" is not a partner code (one of ${[...PARTNER_CODES].join(', ')})`,
    );
  }
  const count = Number(options.count);
  if (!/^\d+$/.test(options.count) || !Number.isSafeInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new CliError('USAGE', `--count: "${options.count}" must be a whole number from 1 to ${MAX_COUNT}`);
  }
  if (options.seed === '') throw new CliError('USAGE', '--seed: must not be empty');
  const from = parseCliDate('--from', options.from ?? DEFAULT_FROM);
  const to =
    options.to !== undefined ? parseCliDate('--to', options.to) : new Date(from.getTime() + 24 * 3_600_000);
  if (to <= from) throw new CliError('USAGE', '--to must be after --from');
  if (from.getTime() < Date.UTC(2015, 0, 1))
    throw new CliError('USAGE', '--from must not be before 2015-01-01');
  if (to > now)
    throw new CliError('USAGE', '--to must not be in the future (events cannot have happened yet)');
  return { partner: options.partner, count, seed: options.seed, from, to };
}

/** `wbx generate`: writes `count` synthetic NDJSON events, byte-identical for identical arguments. */
export async function generateCommand(io: CliIo, options: GenerateCommandOptions): Promise<number> {
  const request = parseGenerateOptions(options, io.now());
  let out: Writable = io.stdout;
  if (options.out !== undefined && options.out !== '-') {
    out = createWriteStream(options.out);
    await new Promise<void>((resolve, reject) => {
      out.once('open', () => resolve());
      out.once('error', (e) =>
        reject(new CliError('IO', `cannot write ${String(options.out)}: ${e.message}`)),
      );
    });
  }
  const progress = new Progress(io.stderr, io.interactive, 'generated', request.count);
  let batch = '';
  for (const event of generateEvents(request)) {
    batch += `${eventToNdjsonLine(event)}\n`;
    if (batch.length > 64 * 1024) {
      await write(out, batch);
      batch = '';
    }
    progress.tick();
  }
  if (batch !== '') await write(out, batch);
  progress.done();
  if (out !== io.stdout) await finish(out);
  return 0;
}
