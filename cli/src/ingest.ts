import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';

import type { IngestClient } from '@wbx/proto';

import {
  createIngestClient,
  EVENT_ID_CONFLICT,
  IngestClientError,
  submitStream,
  waitUntilConnected,
  type StreamItem,
  type StreamOutcome,
  type StreamReport,
} from './ingest-client.js';
import { eventFromJson } from './event-from-json.js';
import { CliError, EXIT } from './errors.js';
import { finish, readPem, write, type CliIo } from './io.js';
import { readLines } from './lines.js';
import { Progress } from './progress.js';
import { MAX_LINE_BYTES, openInput } from './validate.js';

export interface IngestCommandOptions {
  gateway: string;
  file: string;
  rejects?: string;
  insecure?: boolean;
  tlsCa?: string;
  cert?: string;
  key?: string;
  connectTimeout: string;
  idleTimeout: string;
}

/** `500ms`, `10s`, `2m` or a number of milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(text);
  const n = Number(m?.[1]);
  if (m === null || !Number.isSafeInteger(n) || n <= 0) {
    throw new CliError('USAGE', `${flag}: "${text}" is not a duration such as 500ms, 10s or 2m`);
  }
  const unit = m[2] ?? 'ms';
  return n * (unit === 'm' ? 60_000 : unit === 's' ? 1_000 : 1);
}

/** Where an Ingest client connects, as given on the command line. */
export interface IngestClientFlags {
  gateway: string;
  insecure?: boolean;
  tlsCa?: string;
  cert?: string;
  key?: string;
}

/** The flag names an error message uses for each of {@link IngestClientFlags}. */
const INGEST_FLAG_NAMES: Record<keyof IngestClientFlags, string> = {
  gateway: '--gateway',
  insecure: '--insecure',
  tlsCa: '--tls-ca',
  cert: '--cert',
  key: '--key',
};

/** An Ingest client from command-line flags (TLS or mTLS, or plaintext to loopback); usage errors coded. */
export async function openIngestClient(
  options: IngestClientFlags,
  names: Record<keyof IngestClientFlags, string> = INGEST_FLAG_NAMES,
): Promise<IngestClient> {
  const tlsFlags = options.tlsCa !== undefined || options.cert !== undefined || options.key !== undefined;
  if (options.insecure === true && tlsFlags) {
    throw new CliError('USAGE', `${names.insecure} excludes ${names.tlsCa}, ${names.cert} and ${names.key}`);
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new CliError(
      'USAGE',
      `${names.cert} and ${names.key} go together (the client certificate for mTLS)`,
    );
  }
  const [ca, cert, key] = await Promise.all([
    readPem(names.tlsCa, options.tlsCa),
    readPem(names.cert, options.cert),
    readPem(names.key, options.key),
  ]);
  try {
    return createIngestClient({
      address: options.gateway,
      ...(options.insecure === true ? { insecure: true } : {}),
      ...(tlsFlags
        ? {
            tls: {
              ...(ca === undefined ? {} : { ca }),
              ...(cert === undefined ? {} : { cert }),
              ...(key === undefined ? {} : { key }),
            },
          }
        : {}),
    });
  } catch (e) {
    if (e instanceof IngestClientError)
      throw new CliError('USAGE', `${names.gateway}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Waits until `client` is connected to `gateway`; UNREACHABLE when it is not within `timeoutMs`. */
export async function reachGateway(client: IngestClient, gateway: string, timeoutMs: number): Promise<void> {
  try {
    await waitUntilConnected(client, timeoutMs);
  } catch (e) {
    if (!(e instanceof IngestClientError)) throw e;
    throw new CliError('UNREACHABLE', `cannot reach the gateway at ${gateway}: ${e.message}`, { cause: e });
  }
}

async function openRejects(path: string): Promise<WriteStream> {
  const out = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve());
    out.once('error', (e) =>
      reject(new CliError('IO', `--rejects: cannot write ${path}: ${e.message}`, { cause: e })),
    );
  });
  return out;
}

/** Lines in a file (for the progress ETA); only read when progress is shown. */
async function countLines(path: string): Promise<number | undefined> {
  let lines = 0;
  let last = 0x0a;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines += 1;
      last = chunk[chunk.length - 1] ?? last;
    }
  } catch {
    return undefined;
  }
  return last === 0x0a ? lines : lines + 1;
}

/**
 * The NDJSON lines of the input as stream items, each validated as `wbx validate` validates it (against
 * `now`, read per line); refusals found here are never sent.
 */
async function* linesToItems(
  input: Readable,
  rejects: WriteStream,
  lastLine: { value: number },
  now: () => Date,
): AsyncGenerator<StreamItem<number>> {
  try {
    for await (const line of readLines(input, MAX_LINE_BYTES)) {
      lastLine.value = line.number;
      if (!line.tooLong && line.text.trim() === '') continue;
      // Reading waits for the rejects file as it waits for the gateway.
      if (rejects.writableNeedDrain)
        await new Promise<void>((resolve) => rejects.once('drain', () => resolve()));
      if (line.tooLong) {
        const message = `line longer than ${MAX_LINE_BYTES} bytes`;
        yield {
          tag: line.number,
          eventId: null,
          rejection: { code: 'TOO_LONG', message, violations: [{ path: '', code: 'TOO_LONG', message }] },
        };
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(line.text);
      } catch (e) {
        const message = e instanceof SyntaxError ? e.message : 'not JSON';
        yield {
          tag: line.number,
          eventId: null,
          rejection: {
            code: 'INVALID_JSON',
            message,
            violations: [{ path: '', code: 'INVALID_JSON', message }],
          },
        };
        continue;
      }
      const read = eventFromJson(value, { now: now() });
      if (read.ok) {
        yield { tag: line.number, event: read.event };
        continue;
      }
      const id = (value as { eventId?: unknown } | null)?.eventId;
      const violations = read.violations.map((v) => ({ ...v }));
      const code = violations[0]?.code === 'INVALID_JSON' ? 'INVALID_JSON' : 'INVALID_EVENT';
      yield {
        tag: line.number,
        eventId: typeof id === 'string' ? id : null,
        rejection: { code, message: 'the event is invalid', violations },
      };
    }
  } finally {
    input.destroy();
  }
}

interface Tally {
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Rejected because the event id is already stored with other content. */
  conflicts: number;
  /** Rejections by violation code (or by the rejection's code when it has no violations). */
  byCode: Map<string, number>;
}

function summaryLine(t: Tally): string {
  const codes = [...t.byCode]
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return `accepted ${t.accepted}, duplicates ${t.duplicates}, rejected ${t.rejected}${codes ? ` (${codes})` : ''}`;
}

function conflictLine(conflicts: number): string {
  const lines = conflicts === 1 ? '1 line reuses an event id' : `${conflicts} lines reuse event ids`;
  return (
    `${lines} already stored with different content (${EVENT_ID_CONFLICT}): nothing was stored or ` +
    'changed; a stored event is never replaced, so a new or corrected event needs an id of its own\n'
  );
}

function failureMessage(address: string, report: StreamReport, through: number): string {
  const error = report.error;
  const how = error?.code === 'STALLED' ? 'stalled' : error?.code === 'PROTOCOL' ? 'went wrong' : 'broke';
  return (
    `the stream to ${address} ${how} (${error?.message ?? 'unknown'}). ` +
    (through > 0 ? `Lines 1 to ${through} have their results; ` : 'No line has its result; ') +
    `${report.unanswered} events sent after that were not answered and may or may not be stored. ` +
    'Run the same command again to resume: events already stored count as duplicates.'
  );
}

/**
 * `wbx ingest`: streams an NDJSON file of events to a gateway over Ingest.SubmitStream with flow control,
 * one result per line; rejected lines go to the rejects file as `{line, eventId, code, message,
 * violations}`. Exit 0 when every event was stored (or was already there), 1 when any was rejected or the
 * stream failed, 2 for usage and I/O errors, 130 when interrupted.
 */
export async function ingestCommand(io: CliIo, options: IngestCommandOptions): Promise<number> {
  const connectTimeoutMs = parseDuration('--connect-timeout', options.connectTimeout);
  const idleTimeoutMs = parseDuration('--idle-timeout', options.idleTimeout);
  const fromStdin = options.file === '-';
  if (fromStdin && options.rejects === undefined) {
    throw new CliError('USAGE', '--rejects is required when --file is - (stdin)');
  }
  const rejectsPath = options.rejects ?? `${options.file}.rejects.ndjson`;
  if (!fromStdin && resolve(rejectsPath) === resolve(options.file)) {
    throw new CliError('USAGE', '--rejects must not be the input file');
  }
  const client = await openIngestClient(options);
  let input: Readable | undefined;
  try {
    input = await openInput(io, options.file);
    const total = io.interactive && !fromStdin ? await countLines(options.file) : undefined;
    await reachGateway(client, options.gateway, connectTimeoutMs);
    const rejects = await openRejects(rejectsPath);
    const tally: Tally = { accepted: 0, duplicates: 0, rejected: 0, conflicts: 0, byCode: new Map() };
    const progress = new Progress(io.stderr, io.interactive, 'ingested', total);
    const lastLine = { value: 0 };
    let through = 0;
    const interrupt = new AbortController();
    const onSignal = (): void => interrupt.abort();
    process.once('SIGINT', onSignal);
    let report: StreamReport;
    try {
      report = await submitStream(
        client,
        linesToItems(input, rejects, lastLine, () => io.now()),
        (o: StreamOutcome<number>) => {
          progress.tick();
          through = o.tag;
          if ('receipt' in o) {
            if (o.receipt.duplicate) tally.duplicates += 1;
            else tally.accepted += 1;
            return;
          }
          tally.rejected += 1;
          if (o.rejection.code === EVENT_ID_CONFLICT) tally.conflicts += 1;
          const codes =
            o.rejection.violations.length > 0
              ? o.rejection.violations.map((v) => v.code)
              : [o.rejection.code];
          for (const code of codes) tally.byCode.set(code, (tally.byCode.get(code) ?? 0) + 1);
          rejects.write(
            `${JSON.stringify({
              line: o.tag,
              eventId: o.eventId,
              code: o.rejection.code,
              message: o.rejection.message,
              violations: o.rejection.violations.map(({ path, code, message }) => ({ path, code, message })),
            })}\n`,
          );
        },
        { idleTimeoutMs, signal: interrupt.signal },
      );
    } finally {
      process.off('SIGINT', onSignal);
      progress.done();
      await finish(rejects);
    }
    if (tally.rejected === 0) await rm(rejectsPath, { force: true });
    let text = `${summaryLine(tally)}\n`;
    if (tally.conflicts > 0) text += conflictLine(tally.conflicts);
    if (tally.rejected > 0) text += `rejected lines written to ${rejectsPath}\n`;
    await write(io.stderr, text);
    if (report.error !== undefined) {
      throw new CliError(report.error, failureMessage(options.gateway, report, through));
    }
    if (report.interrupted) {
      const at = `stopped after line ${lastLine.value} (results up to line ${through})`;
      throw new CliError('INTERRUPTED', `${at}; run the same command again to resume`);
    }
    return tally.rejected === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    input?.destroy();
    client.close();
  }
}
