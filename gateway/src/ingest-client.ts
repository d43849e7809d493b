import {
  connectivityState,
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { parseTimestamp } from '@wbx/schema';
import { Event, IngestClient, protoDir, type Receipt, type Rejection, type SubmitResult } from '@wbx/proto';

import { isLoopback } from './node/config.js';

export type IngestClientErrorCode =
  /** The address is not host:port, or plaintext was asked for a non-loopback address. */
  | 'BAD_TARGET'
  /** No connection to the gateway (refused, TLS handshake failed, no answer before the deadline). */
  | 'UNREACHABLE'
  /** The stream ended with an error status (gateway gone, UNAVAILABLE, cancelled, …). */
  | 'STREAM_BROKEN'
  /** Events were outstanding and no result came for the idle timeout. */
  | 'STALLED'
  /** The gateway answered out of order, or ended the stream with events unanswered. */
  | 'PROTOCOL';

export class IngestClientError extends Error {
  constructor(
    readonly code: IngestClientErrorCode,
    message: string,
    /** The gRPC status code, when the failure came from one. */
    readonly grpcCode?: status,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface IngestTarget {
  /** `host:port` of the gateway's gRPC listener. */
  readonly address: string;
  /** Plaintext; refused unless the address is loopback. */
  readonly insecure?: boolean;
  /** PEM material: `ca` to trust (default: the system roots), `cert` + `key` for mTLS. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Checks a `host:port` gateway address (IPv6 in brackets); throws BAD_TARGET. */
export function checkAddress(address: string): void {
  const m = HOST_PORT.exec(address);
  const port = Number(m?.[2]);
  if (m === null || port < 1 || port > 65_535) {
    throw new IngestClientError('BAD_TARGET', `"${address}" is not host:port (port 1..65535)`);
  }
}

/**
 * Channel options: keepalive pings find a gateway that vanished without closing the connection (a host
 * or network failure) within about half a minute, instead of never.
 */
export const INGEST_CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
};

/** A client of wbx.v1.Ingest; TLS unless `insecure` (loopback only). Close it with `client.close()`. */
export function createIngestClient(target: IngestTarget): IngestClient {
  checkAddress(target.address);
  let creds: ChannelCredentials;
  if (target.insecure === true) {
    if (!isLoopback(target.address)) {
      throw new IngestClientError(
        'BAD_TARGET',
        `plaintext gRPC is allowed to a loopback address only, not ${target.address}`,
      );
    }
    if (target.tls !== undefined)
      throw new IngestClientError('BAD_TARGET', 'insecure and TLS exclude each other');
    creds = credentials.createInsecure();
  } else {
    const { ca, cert, key } = target.tls ?? {};
    if ((cert === undefined) !== (key === undefined)) {
      throw new IngestClientError(
        'BAD_TARGET',
        'a client certificate needs its key, and a key its certificate',
      );
    }
    creds = credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
  }
  return new IngestClient(target.address, creds, INGEST_CHANNEL_OPTIONS);
}

/**
 * Waits until the channel is connected. Fails at once when a connection attempt fails (refused, TLS
 * handshake), and at the deadline when nothing answers.
 */
export async function waitUntilConnected(client: IngestClient, timeoutMs: number): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + timeoutMs;
  let state = channel.getConnectivityState(true);
  while (state !== connectivityState.READY) {
    if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) {
      throw new IngestClientError(
        'UNREACHABLE',
        'the connection failed (nothing listening, a network error, or a TLS handshake failure)',
      );
    }
    const from = state;
    await new Promise<void>((resolve, reject) => {
      channel.watchConnectivityState(from, deadline, (e) => {
        if (e) reject(new IngestClientError('UNREACHABLE', `no connection within ${timeoutMs} ms`));
        else resolve();
      });
    });
    state = channel.getConnectivityState(true);
  }
}

// ---------------------------------------------------------------------------------------------------

/** One event to send, or an input that was refused before sending; `tag` identifies it (a line number). */
export type StreamItem<T> =
  | { readonly tag: T; readonly event: Event }
  | { readonly tag: T; readonly eventId: string | null; readonly rejection: Rejection };

/** What became of one item, delivered in input order. */
export type StreamOutcome<T> =
  | { readonly tag: T; readonly eventId: string; readonly receipt: Receipt }
  | {
      readonly tag: T;
      readonly eventId: string | null;
      readonly rejection: Rejection;
      /** Refused here, never sent. */
      readonly local: boolean;
    };

export interface SubmitStreamOptions {
  /** The most events sent and not yet answered; reading pauses there. Default 1024. */
  readonly window?: number;
  /** Give up when events are outstanding and no result came for this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** When aborted: read no more input, let the outstanding events be answered, and return. */
  readonly signal?: AbortSignal;
  readonly metadata?: Metadata;
}

export interface StreamReport {
  readonly sent: number;
  readonly answered: number;
  /** Sent, never answered: perhaps stored, perhaps not. Submitting them again is safe (duplicates). */
  readonly unanswered: number;
  /** The signal stopped the input early. */
  readonly interrupted: boolean;
  /** Why the stream failed; the outcomes delivered before it stand. */
  readonly error?: IngestClientError;
}

interface Pending<T> {
  readonly tag: T;
  readonly index: number;
  readonly eventId: string | null;
  outcome?: StreamOutcome<T>;
}

function describeStatus(e: ServiceError): string {
  return `${status[e.code]}: ${e.details || e.message}`;
}

/**
 * Sends `items` over one Ingest.SubmitStream and calls `onOutcome` for each item in input order, up to
 * the first one left unanswered when the stream fails (so the outcomes always cover a prefix). Flow
 * control both ways: reading pauses while gRPC's write buffer is full ('drain') and while `window` events
 * are unanswered; memory stays bounded whatever the input size. Never hangs: a broken stream, a stall
 * longer than `idleTimeoutMs` or an answer out of order ends it with `error` set in the report.
 */
export async function submitStream<T>(
  client: IngestClient,
  items: AsyncIterable<StreamItem<T>>,
  onOutcome: (outcome: StreamOutcome<T>) => void,
  options: SubmitStreamOptions = {},
): Promise<StreamReport> {
  const window = options.window ?? 1024;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const call = client.submitStream(options.metadata ?? new Metadata());
  const queue: Pending<T>[] = [];
  const awaiting: Pending<T>[] = [];
  let sent = 0;
  let answered = 0;
  let failure: IngestClientError | undefined;
  let halfClosed = false;
  let statusOk = false;
  let readableEnded = false;
  let needDrain = false;
  let interrupted = options.signal?.aborted ?? false;
  let lastAnswer = performance.now();

  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const changed = (): Promise<void> =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  const fail = (e: IngestClientError): void => {
    failure ??= e;
    notify();
  };
  const flush = (): void => {
    for (let head = queue[0]; head?.outcome !== undefined; head = queue[0]) {
      queue.shift();
      onOutcome(head.outcome);
    }
  };

  call.on('data', (r: SubmitResult) => {
    const p = awaiting.shift();
    if (p === undefined || r.index !== p.index || r.eventId !== (p.eventId ?? '')) {
      fail(
        new IngestClientError(
          'PROTOCOL',
          `the gateway answered event #${r.index} (${r.eventId}) when #${p?.index ?? '-'} was due`,
        ),
      );
      call.cancel();
      return;
    }
    answered += 1;
    lastAnswer = performance.now();
    if (r.receipt !== undefined) p.outcome = { tag: p.tag, eventId: r.eventId, receipt: r.receipt };
    else {
      const rejection = r.rejection ?? { code: 'INTERNAL', message: 'empty result', violations: [] };
      p.outcome = { tag: p.tag, eventId: p.eventId, rejection, local: false };
    }
    flush();
    notify();
  });
  call.on('drain', () => {
    needDrain = false;
    notify();
  });
  call.on('end', () => {
    readableEnded = true;
    notify();
  });
  call.on('error', (e: ServiceError) => {
    fail(new IngestClientError('STREAM_BROKEN', describeStatus(e), e.code, { cause: e }));
  });
  call.on('status', (s: { code: status }) => {
    if (s.code !== status.OK) return;
    if (!halfClosed) {
      fail(new IngestClientError('PROTOCOL', 'the gateway ended the stream before the input was sent'));
    }
    statusOk = true;
    notify();
  });
  const onAbort = (): void => {
    interrupted = true;
    notify();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const watchdog = setInterval(
    () => {
      // Waiting for answers, or (everything sent) for the end of the stream.
      if ((awaiting.length > 0 || halfClosed) && performance.now() - lastAnswer > idleTimeoutMs) {
        const what = awaiting.length > 0 ? `with ${awaiting.length} events outstanding` : 'to end the stream';
        fail(
          new IngestClientError(
            'STALLED',
            `no answer from the gateway for ${Math.round(idleTimeoutMs / 1000)} s ${what}`,
          ),
        );
        call.cancel();
      }
    },
    Math.min(1_000, Math.max(10, idleTimeoutMs / 4)),
  );
  const failed = (): boolean => failure !== undefined;
  const isStatusOk = (): boolean => statusOk;
  const hasEnded = (): boolean => readableEnded;
  const stopped = (): boolean => failed() || interrupted;

  try {
    for await (const item of items) {
      if (stopped()) break;
      if ('rejection' in item) {
        queue.push({
          tag: item.tag,
          index: -1,
          eventId: item.eventId,
          outcome: { tag: item.tag, eventId: item.eventId, rejection: item.rejection, local: true },
        });
        flush();
        continue;
      }
      while (awaiting.length >= window && !stopped()) await changed();
      if (stopped()) break;
      if (awaiting.length === 0) lastAnswer = performance.now();
      const pending: Pending<T> = { tag: item.tag, index: sent, eventId: item.event.eventId };
      queue.push(pending);
      awaiting.push(pending);
      sent += 1;
      if (!call.write(item.event)) needDrain = true;
      while (needDrain && !stopped()) await changed();
    }
    // `failure` and `statusOk` change in the call's event handlers, hence read through functions.
    if (!failed()) {
      if (awaiting.length === 0) lastAnswer = performance.now();
      halfClosed = true;
      call.end();
      while (!failed() && !(isStatusOk() && hasEnded())) await changed();
      if (!failed() && awaiting.length > 0) {
        fail(
          new IngestClientError(
            'PROTOCOL',
            `the gateway ended the stream with ${awaiting.length} unanswered`,
          ),
        );
      }
    }
  } finally {
    clearInterval(watchdog);
    options.signal?.removeEventListener('abort', onAbort);
    if (!isStatusOk()) call.cancel();
  }
  return {
    sent,
    answered,
    unanswered: awaiting.length,
    interrupted,
    ...(failure === undefined ? {} : { error: failure }),
  };
}

// ---------------------------------------------------------------------------------------------------

/** A violation found before sending (same shape and codes as the gateway's). */
export interface LocalViolation {
  readonly path: string;
  readonly code:
    'INVALID_JSON' | 'UNKNOWN_FIELD' | 'INVALID_TYPE' | 'INVALID_FORMAT' | 'OUT_OF_RANGE' | 'INCONSISTENT';
  readonly message: string;
}

interface FieldDescriptor {
  readonly name: string;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}

type MessageIndex = ReadonlyMap<string, ReadonlyMap<string, FieldDescriptor>>;

let messageIndex: MessageIndex | undefined;

/** wbx.v1 message descriptors by full name, each field reachable by its proto name and its JSON name. */
function messages(): MessageIndex {
  if (messageIndex !== undefined) return messageIndex;
  const definition = loadSync('wbx/v1/event.proto', { includeDirs: [protoDir], keepCase: true });
  const index = new Map<string, Map<string, FieldDescriptor>>();
  for (const [name, def] of Object.entries(definition)) {
    if (!('format' in def) || def.format !== 'Protocol Buffer 3 DescriptorProto') continue;
    const fields = new Map<string, FieldDescriptor>();
    for (const f of (def.type as { field: FieldDescriptor[] }).field) {
      fields.set(f.name, f);
      fields.set(
        f.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
        f,
      );
    }
    index.set(name, fields);
  }
  messageIndex = index;
  return index;
}

const INT32 = new Set(['TYPE_INT32', 'TYPE_SINT32', 'TYPE_SFIXED32']);
const UINT32 = new Set(['TYPE_UINT32', 'TYPE_FIXED32']);
const INT64 = new Set(['TYPE_INT64', 'TYPE_SINT64', 'TYPE_SFIXED64', 'TYPE_UINT64', 'TYPE_FIXED64']);

function checkScalar(f: FieldDescriptor, v: unknown, path: string, out: LocalViolation[]): void {
  const bad = (what: string): void => {
    out.push({ path, code: 'INVALID_TYPE', message: `must be ${what}` });
  };
  if (f.type === 'TYPE_STRING' || f.type === 'TYPE_BYTES') {
    if (typeof v !== 'string') bad('a string');
  } else if (f.type === 'TYPE_BOOL') {
    if (typeof v !== 'boolean') bad('true or false');
  } else if (f.type === 'TYPE_DOUBLE' || f.type === 'TYPE_FLOAT') {
    const ok =
      typeof v === 'number' ||
      (typeof v === 'string' &&
        (/^(NaN|-?Infinity)$/.test(v) || (v.trim() !== '' && Number.isFinite(Number(v)))));
    if (!ok) bad('a number');
  } else if (INT32.has(f.type) || UINT32.has(f.type) || INT64.has(f.type)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) bad('a whole number');
    else if (
      UINT32.has(f.type) ? n < 0 || n > 0xffff_ffff : INT32.has(f.type) && (n < -(2 ** 31) || n >= 2 ** 31)
    ) {
      out.push({
        path,
        code: 'OUT_OF_RANGE',
        message: `outside the range of ${f.type.slice(5).toLowerCase()}`,
      });
    }
  } else if (f.type === 'TYPE_ENUM') {
    if (typeof v !== 'string' && !Number.isInteger(v)) bad('an enum name or number');
  }
}

function checkValue(f: FieldDescriptor, v: unknown, path: string, out: LocalViolation[]): void {
  if (f.type !== 'TYPE_MESSAGE') return checkScalar(f, v, path, out);
  const typeName = f.typeName.replace(/^\./, '');
  if (typeName === 'google.protobuf.Timestamp') {
    // The wire carries seconds and nanos: a string that is no real UTC instant cannot be sent as it is
    // (Feb 30 would become Mar 1); the schema's own parser decides, as `wbx validate` does.
    if (typeof v === 'string' && parseTimestamp(v) === undefined) {
      out.push({ path, code: 'INVALID_FORMAT', message: 'must be an RFC 3339 UTC timestamp' });
    } else if (typeof v !== 'string')
      out.push({ path, code: 'INVALID_TYPE', message: 'must be an RFC 3339 timestamp' });
    return;
  }
  checkMessage(messages().get(`wbx.v1.${typeName}`) ?? messages().get(typeName), v, path, out);
}

function checkMessage(
  fields: ReadonlyMap<string, FieldDescriptor> | undefined,
  value: unknown,
  path: string,
  out: LocalViolation[],
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.push({ path, code: 'INVALID_TYPE', message: 'must be an object' });
    return;
  }
  if (fields === undefined) return;
  const seen = new Map<FieldDescriptor, string>();
  for (const [key, v] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    const f = fields.get(key);
    if (f === undefined) {
      out.push({ path: at, code: 'UNKNOWN_FIELD', message: 'not a field of this message' });
      continue;
    }
    const other = seen.get(f);
    if (other !== undefined) {
      out.push({ path: at, code: 'INCONSISTENT', message: `set twice, also as ${other}` });
      continue;
    }
    seen.set(f, key);
    if (v === null) continue;
    if (f.label === 'LABEL_REPEATED') {
      if (!Array.isArray(v)) out.push({ path: at, code: 'INVALID_TYPE', message: 'must be a list' });
      else (v as unknown[]).forEach((item, i) => checkValue(f, item, `${at}[${i}]`, out));
    } else checkValue(f, v, at, out);
  }
}

/**
 * Reads a parsed NDJSON line as a wbx.v1.Event in proto3 JSON, strictly: a field the message does not
 * have, or a value of the wrong JSON type, is a violation (proto3 JSON parsers reject unknown fields by
 * default). `Event.fromJSON` alone would drop or coerce them silently, and the gateway would store an
 * event that is not what the line said.
 */
export function eventFromJson(
  value: unknown,
): { ok: true; event: Event } | { ok: false; violations: LocalViolation[] } {
  const violations: LocalViolation[] = [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      violations: [{ path: '', code: 'INVALID_JSON', message: 'an event is a JSON object' }],
    };
  }
  checkMessage(messages().get('wbx.v1.Event'), value, '', violations);
  if (violations.length > 0) return { ok: false, violations };
  return { ok: true, event: Event.fromJSON(value) };
}
