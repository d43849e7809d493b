// `wbx correct` and `wbx withdraw`: a record.correction / record.withdrawal submitted through Ingest.
import { readFile } from 'node:fs/promises';

import { Metadata } from '@grpc/grpc-js';
import type { Event, IngestClient, Receipt } from '@wbx/proto';
import { CORRECTION_REASONS, uuidV7, WITHDRAWAL_REASONS } from '@wbx/schema';

import { isServiceError, statusDetails } from '@wbx/gateway';
import { CliError } from './errors.js';
import { eventFromJson } from './event-from-json.js';
import { parseDuration, openIngestClient, reachGateway, type IngestClientFlags } from './ingest.js';
import { write, type CliIo } from './io.js';
import { reportCallError } from './exchange-client.js';

export interface RecordChangeOptions extends IngestClientFlags {
  /** The original event's id. */
  event: string;
  reason: string;
  /** The origin (this partner); for a correction, default: the corrected event's. */
  origin?: string;
  /** `wbx correct`: the corrected event, proto3 JSON of wbx.v1.Event. */
  file?: string;
  connectTimeout: string;
}

async function readCorrected(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError('IO', `--file: cannot read ${file}`, { cause: e });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new CliError('INVALID_INPUT', `--file: ${file} is not one JSON object (the corrected event)`);
}

/** The change event the command submits, validated as the gateway validates it. */
async function changeEvent(
  io: CliIo,
  type: 'record.correction' | 'record.withdrawal',
  options: RecordChangeOptions,
): Promise<Event> {
  const reasons: readonly string[] = type === 'record.correction' ? CORRECTION_REASONS : WITHDRAWAL_REASONS;
  if (!reasons.includes(options.reason))
    throw new CliError('USAGE', `--reason: one of ${reasons.join(', ')}`);
  const corrected = options.file === undefined ? undefined : await readCorrected(options.file);
  const origin = options.origin ?? (typeof corrected?.origin === 'string' ? corrected.origin : undefined);
  if (origin === undefined) throw new CliError('USAGE', '--origin is required (this partner’s code)');
  const now = io.now();
  const at = new Date(now.getTime() - 1_000).toISOString();
  const body = { originalEventId: options.event, reason: options.reason };
  const json = {
    eventId: uuidV7(now.getTime()),
    origin,
    type,
    schemaVersion: 1,
    occurredAt: at,
    recordedAt: at,
    ...(type === 'record.correction'
      ? { recordCorrection: { ...body, corrected } }
      : { recordWithdrawal: body }),
  };
  const read = eventFromJson(json, { now });
  if (!read.ok) {
    for (const v of read.violations) await write(io.stderr, `${v.path}: ${v.code}: ${v.message}\n`);
    throw new CliError('INVALID_INPUT', `the ${type} is invalid; nothing was sent`);
  }
  return read.event;
}

function submit(client: IngestClient, event: Event): Promise<Receipt> {
  return new Promise((resolve, reject) => {
    client.submit(event, new Metadata(), { deadline: Date.now() + 30_000 }, (e, r) =>
      e ? reject(e) : resolve(r),
    );
  });
}

/**
 * Submits a correction or withdrawal of event `--event` to the gateway's Ingest, authenticated as
 * `wbx ingest` is (TLS or mTLS, or plaintext to loopback). Prints the receipt as one JSON line; a refusal
 * prints each violation (`path: CODE: message`, e.g. ORIGINAL_NOT_FOUND) and exits 1.
 */
async function changeCommand(
  io: CliIo,
  type: 'record.correction' | 'record.withdrawal',
  options: RecordChangeOptions,
): Promise<number> {
  const connectTimeoutMs = parseDuration('--connect-timeout', options.connectTimeout);
  const event = await changeEvent(io, type, options);
  const client = await openIngestClient(options);
  try {
    await reachGateway(client, options.gateway, connectTimeoutMs);
    let receipt: Receipt;
    try {
      receipt = await submit(client, event);
    } catch (e) {
      if (!isServiceError(e)) throw e;
      for (const v of statusDetails(e).violations)
        await write(io.stderr, `${v.field}: ${v.reason}: ${v.description}\n`);
      return await reportCallError(io, e, type);
    }
    const line = { ...receipt, type, originalEventId: options.event };
    await write(io.stdout, `${JSON.stringify(line)}\n`);
    return 0;
  } finally {
    client.close();
  }
}

/** `wbx correct --event ID --reason CODE --file corrected.json`. */
export function correctCommand(io: CliIo, options: RecordChangeOptions): Promise<number> {
  if (options.file === undefined) throw new CliError('USAGE', '--file is required (the corrected event)');
  return changeCommand(io, 'record.correction', options);
}

/** `wbx withdraw --event ID --reason CODE`. */
export function withdrawCommand(io: CliIo, options: RecordChangeOptions): Promise<number> {
  return changeCommand(io, 'record.withdrawal', options);
}
