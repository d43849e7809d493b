import { readFile } from 'node:fs/promises';

import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JsMsg,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import {
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  INBOX_STREAM,
  INBOX_SUBJECT_PREFIX,
  inboxMsgId,
  shareStream,
  shareStreamRecipient,
  shareSubjectPrefix,
} from '@wbx/gateway';
import type { ManifestBody } from '@wbx/registry';
import { isEventType } from '@wbx/schema';
import { SealError, verifyPresentation, type VerifiedEvent } from '@wbx/seal';

import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { loadTrustedManifest } from './seal.js';

export interface TailCommandOptions {
  nats: string;
  stream: string;
  manifest: string;
  nkey?: string;
  type?: string;
  fromSeq?: string;
  count?: string;
}

/** Subject prefix of each WBX stream; the origin and the two-token type follow it. */
function subjectPrefix(stream: string): string | undefined {
  if (stream === EVENTS_STREAM) return EVENTS_SUBJECT_PREFIX;
  if (stream === INBOX_STREAM) return INBOX_SUBJECT_PREFIX;
  const recipient = shareStreamRecipient(stream);
  return recipient !== undefined && /^[A-Z0-9]+$/.test(recipient) ? shareSubjectPrefix(recipient) : undefined;
}

/**
 * The one filter subject (nats-server 2.9 takes no more) for events of `type`. It must lie within a
 * subject of the stream: WBX_EVENTS holds `wbx.evt.<partner>.>`, so its filter names the partner, where
 * WBX_INBOX (`wbx.in.>`) takes any origin.
 */
function typeFilter(prefix: string, streamSubjects: readonly string[], type: string): string {
  const depth = prefix.split('.').length + 1;
  for (const subject of streamSubjects) {
    const tokens = subject.split('.');
    if (tokens.at(-1) !== '>' || !subject.startsWith(`${prefix}.`)) continue;
    const base = tokens.slice(0, -1);
    if (base.length === depth) return `${base.join('.')}.${type}`;
    if (base.length === depth - 1) return `${base.join('.')}.*.${type}`;
  }
  return `${prefix}.*.${type}`;
}

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new CliError('USAGE', `${flag}: "${text}" must be a whole number from 1`);
  }
  return n;
}

type Checked =
  { ok: true; claims: Readonly<Record<string, unknown>> } | { ok: false; code: string; detail: string };

/**
 * A message of a WBX stream is shown only if its token verifies against the manifest and it sits where it
 * claims to belong: the subject names the token's issuer and type, the message id is the event id (in
 * WBX_INBOX, which holds events of several origins: `<issuer>.<event id>`).
 */
function check(m: JsMsg, stream: string, manifest: ManifestBody, now: Date): Checked {
  let verified: VerifiedEvent;
  try {
    verified = verifyPresentation(m.string().trim(), { manifest, now });
  } catch (e) {
    if (e instanceof SealError) return { ok: false, code: e.code, detail: e.detail ?? e.message };
    throw e;
  }
  const tokens = m.subject.split('.');
  const origin = tokens.at(-3);
  const type = tokens.slice(-2).join('.');
  if (origin !== verified.issuer || type !== verified.type) {
    return {
      ok: false,
      code: 'SUBJECT_MISMATCH',
      detail: `a ${verified.type} event of ${verified.issuer} on ${m.subject}`,
    };
  }
  const msgId = m.headers?.get('Nats-Msg-Id');
  const inbox = stream === INBOX_STREAM;
  const expected = inbox ? inboxMsgId(verified.issuer, verified.eventId) : verified.eventId;
  if (msgId !== undefined && msgId !== '' && msgId !== expected) {
    const what = inbox ? '<issuer>.<event id>' : 'the event id';
    return { ok: false, code: 'MSG_ID_MISMATCH', detail: `Nats-Msg-Id ${msgId} is not ${what}` };
  }
  return { ok: true, claims: verified.claims };
}

/**
 * The claims as printed: an aggregate's suppressed cell shows its count as `"< k"` (k its minCell), never
 * as the 0 it travels with, so that no reader of the line takes it for none; a cell hidden by secondary
 * suppression (`secondary: true`, a complement that may hold k or more) shows `"hidden"` instead.
 */
export function shownClaims(claims: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { cells, minCell } = claims;
  if (!Array.isArray(cells) || typeof minCell !== 'number') return { ...claims };
  const shown = cells.map((c: unknown) => {
    if (typeof c !== 'object' || c === null) return c;
    const cell = c as { suppressed?: unknown; secondary?: unknown };
    if (cell.suppressed !== true) return c;
    return { ...c, count: cell.secondary === true ? 'hidden' : `< ${minCell}` };
  });
  return { ...claims, cells: shown };
}

/**
 * `wbx tail`: reads a WBX stream with an ordered consumer (from the first message, or `--from-seq`),
 * verifies every token against the manifest and prints one JSON line per verified event — its claims
 * plus `seq` (an aggregate's suppressed cells with count `"< k"`, see {@link shownClaims}). Refused
 * tokens are reported on stderr with their code and not printed. Stops after
 * `--count` verified events, or on SIGINT/SIGTERM; exits 1 if any token was refused.
 */
export async function tailCommand(io: CliIo, options: TailCommandOptions): Promise<number> {
  const count = positive('--count', options.count);
  const fromSeq = positive('--from-seq', options.fromSeq);
  const prefix = subjectPrefix(options.stream);
  if (prefix === undefined) {
    throw new CliError(
      'USAGE',
      `--stream: "${options.stream}" is not ${EVENTS_STREAM}, ${INBOX_STREAM} or ${shareStream('<R>')}`,
    );
  }
  if (options.type !== undefined && !isEventType(options.type)) {
    throw new CliError('USAGE', `--type: "${options.type}" is not an event type, e.g. crossing.irregular`);
  }
  if (!/^(nats|tls):\/\/.+/.test(options.nats)) {
    throw new CliError('USAGE', `--nats: "${options.nats}" must be a nats:// or tls:// URL`);
  }
  const manifest = await loadTrustedManifest(options.manifest);
  let seed: string | undefined;
  if (options.nkey !== undefined) {
    try {
      seed = (await readFile(options.nkey, 'utf8')).trim();
    } catch (e) {
      throw new CliError('IO', `--nkey: cannot read ${options.nkey}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.nats,
      name: 'wbx-tail',
      timeout: 10_000,
      maxReconnectAttempts: -1,
      ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
    });
  } catch (e) {
    const why = (e as Error).message;
    throw new CliError('UNREACHABLE', `cannot connect to ${options.nats}: ${why}`, { cause: e });
  }
  let verified = 0;
  let refused = 0;
  let messages: ConsumerMessages | undefined;
  const stopRequested = new AbortController();
  const stop = (): void => {
    stopRequested.abort();
    messages?.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    let subjects: string[];
    try {
      subjects = (await (await jetstreamManager(nc)).streams.info(options.stream)).config.subjects;
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
        throw new CliError('NOT_FOUND', `no stream ${options.stream} on ${options.nats}`, { cause: e });
      }
      throw e;
    }
    const consumerOptions: Partial<OrderedConsumerOptions> = {
      ...(options.type === undefined ? {} : { filter_subjects: typeFilter(prefix, subjects, options.type) }),
      ...(fromSeq === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq }),
    };
    messages = await (await jetstream(nc).consumers.get(options.stream, consumerOptions)).consume();
    // A signal that came while the consumer was being set up.
    if (stopRequested.signal.aborted) messages.stop();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') await write(io.stderr, `NATS disconnected; reconnecting\n`);
        if (s.type === 'reconnect') await write(io.stderr, `NATS reconnected\n`);
      }
    })();
    for await (const m of messages) {
      const result = check(m, options.stream, manifest, io.now());
      if (result.ok) {
        verified += 1;
        await write(io.stdout, `${JSON.stringify({ ...shownClaims(result.claims), seq: m.seq })}\n`);
        if (count !== undefined && verified >= count) break;
      } else {
        refused += 1;
        await write(io.stderr, `seq ${m.seq}: ${result.code}: ${result.detail}\n`);
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    stop();
    await nc.close();
  }
  await write(io.stderr, `${verified} verified, ${refused} refused\n`);
  return refused === 0 ? 0 : 1;
}
