import { credentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import {
  ExchangeClient,
  type QueryEnd,
  type QueryEvent,
  type QueryRequest,
  type QueryResponse,
} from '@wbx/proto';

import { isServiceError, statusReason } from '@wbx/gateway';

import { checkAddress, IngestClientError } from './ingest-client.js';
import { CliError } from './errors.js';
import { readPem, reportError, type CliIo } from './io.js';

/** The flags every Exchange command takes: where, and the mTLS material (Exchange is never plaintext). */
export interface ExchangeFlags {
  gateway: string;
  tlsCa: string;
  cert: string;
  key: string;
  agreement: string;
  purpose?: string;
}

/**
 * Channel options of an Exchange client: Query answers come in messages of up to about 1 MiB (256 events
 * at most), so the receive cap leaves room for one large message, and the HTTP/2 flow-control window lets
 * the gateway send several before the client's next window update (with the 64 KiB default, a long
 * Query spends much of its time waiting for those updates).
 */
export const EXCHANGE_CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 0,
};

/** An Exchange client over mutual TLS with the partner's client certificate. */
export async function openExchange(flags: ExchangeFlags): Promise<ExchangeClient> {
  try {
    checkAddress(flags.gateway);
  } catch (e) {
    if (e instanceof IngestClientError) throw new CliError('USAGE', `--gateway: ${e.message}`, { cause: e });
    throw e;
  }
  const [ca, cert, key] = await Promise.all([
    readPem('--tls-ca', flags.tlsCa),
    readPem('--cert', flags.cert),
    readPem('--key', flags.key),
  ]);
  return new ExchangeClient(flags.gateway, credentials.createSsl(ca, key, cert), EXCHANGE_CHANNEL_OPTIONS);
}

/** Calls a unary method as a promise. */
export function unary<Res>(start: (cb: (e: ServiceError | null, r: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    start((e, r) => (e ? reject(e) : resolve(r)));
  });
}

/**
 * Reports a refused or failed call as `wbx: <CODE>: [<context>: ]<message>`: the code is the gateway's
 * ErrorInfo reason, or the status's name when there is none (DEADLINE_EXCEEDED, UNAVAILABLE, …).
 * Resolves to the exit status of that code; anything but a gRPC error is thrown again.
 */
export async function reportCallError(io: CliIo, e: unknown, context?: string): Promise<number> {
  if (!isServiceError(e)) throw e;
  const text = e.details === '' ? 'the call failed without details' : e.details;
  return reportError(io, statusReason(e), context === undefined ? text : `${context}: ${text}`);
}

/**
 * One page of a Query: each event handed to `onEvent` as it comes (the stream waits while it works),
 * then how the page ended (more to come, and the resume token).
 */
export function queryPage(
  client: ExchangeClient,
  request: QueryRequest,
  onEvent: (e: QueryEvent) => Promise<void>,
): Promise<QueryEnd> {
  return new Promise((resolve, reject) => {
    const call = client.query(request);
    let end: QueryEnd | undefined;
    let chain = Promise.resolve();
    call.on('data', (m: QueryResponse) => {
      if (m.end !== undefined) end = m.end;
      if (m.events.length === 0) return;
      call.pause();
      chain = chain
        .then(async () => {
          for (const e of m.events) await onEvent(e);
        })
        .then(() => void call.resume(), reject);
    });
    call.on('error', reject);
    call.on('end', () => {
      void chain.then(() =>
        end === undefined ? reject(new Error('the query ended without its closing message')) : resolve(end),
      );
    });
  });
}
