import {
  connectivityState,
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { IngestClient, type Event, type Receipt, type Rejection, type SubmitResult } from '@wbx/proto';

import { isLoopback, statusReason } from '@wbx/gateway';

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

/**
 * The rejection code of an event whose id the gateway already stored with other content: nothing was
 * stored or changed (the same content again is a duplicate, answered with a receipt).
 */
export const EVENT_ID_CONFLICT = 'EVENT_ID_CONFLICT';

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

/** How a stream's error status reads in a STREAM_BROKEN message: its reason (or status name), its details. */
function describeStatus(e: ServiceError): string {
  return `${statusReason(e)}: ${e.details === '' ? 'no details' : e.details}`;
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
