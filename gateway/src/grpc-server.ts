import type { sendUnaryData, Server, ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import type { Event, IngestServer, Receipt, SubmitResult } from '@wbx/proto';
import type { Logger } from 'pino';

import type { GatewayConfig } from './config.js';
import type { GuardContext } from './connection-guard.js';
import { toRejection, toServiceError } from './grpc-errors.js';
import { guardedListenerOf, serveGrpc, type StartedGrpcServer } from './grpc-listener.js';
import { ingestInput, requestEventId, StrictIngestService } from './ingest-decode.js';
import type { IngestPipeline, IngestReceipt } from './ingest-pipeline.js';
import type { HopTrace } from './stage-trace.js';

/** How many events of one SubmitStream may be in the pipeline at once before reading pauses. */
export const STREAM_WINDOW = 512;

function receipt(r: IngestReceipt): Receipt {
  return { eventId: r.eventId, seq: r.seq, duplicate: r.duplicate };
}

/** The part of grpc-js's server call object `writeInBatches` relies on (grpc-js 1.14, pinned). */
interface CallInternals {
  readonly call?: { sendMessage?: (message: unknown, callback: () => void) => void };
}

/**
 * Lets the stream's buffered results go out together. grpc-js's server stream is a Writable without
 * `_writev`: it hands the HTTP/2 stream one message at a time and the next only once that write has
 * completed — about one result per turn of the event loop. Under load (sharing, NATS, the next
 * submissions in the same turns) that is fewer results a second than submissions arrive, and receipts
 * queued behind it for up to a second at 1,000 events/s (`pnpm bench e2e`, hop `ingest_dequeued`).
 * With `_writev` the results buffered meanwhile are all passed on at once (each still its own gRPC
 * message, in order). Without the internal call (another grpc-js), messages go one at a time as before.
 * Only for a server without interceptors: grpc-js holds a single message while an asynchronous
 * interceptor handles one, so messages passed on together would be lost there.
 */
export function writeInBatches<In, Out>(call: ServerDuplexStream<In, Out>): void {
  const inner = (call as unknown as CallInternals).call;
  const sendMessage = inner?.sendMessage?.bind(inner);
  if (sendMessage === undefined) return;
  Object.defineProperty(call, '_writev', {
    value: (chunks: readonly { chunk: unknown }[], done: () => void): void => {
      let left = chunks.length;
      for (const { chunk } of chunks)
        sendMessage(chunk, () => {
          left -= 1;
          if (left === 0) done();
        });
    },
  });
}

function ingestServer(pipeline: IngestPipeline, log: Logger): IngestServer {
  return {
    submit(call: ServerUnaryCall<Event, Receipt>, callback: sendUnaryData<Receipt>): void {
      const trace = pipeline.trace();
      pipeline.submit(ingestInput(call.request), trace).then(
        (r) => {
          callback(null, receipt(r));
          trace?.mark('answered');
          trace?.done(r.eventId);
        },
        (e: unknown) => callback(toServiceError(e, log, { eventId: requestEventId(call.request) })),
      );
    },

    submitStream(call: ServerDuplexStream<Event, SubmitResult>): void {
      writeInBatches(call);
      const queue: { readonly result: Promise<SubmitResult>; readonly trace: HopTrace | undefined }[] = [];
      let index = 0;
      let ended = false;
      let writing = false;
      let cancelled = false;
      const pump = async (): Promise<void> => {
        if (writing) return;
        writing = true;
        try {
          while (queue.length > 0 && !cancelled) {
            const head = queue[0];
            const result = await head?.result;
            head?.trace?.mark('dequeued');
            void queue.shift();
            // Results not yet handed to HTTP/2 count against the window too: a client that does not read
            // holds the stream's reading.
            if (result !== undefined && !call.write(result) && call.writableLength >= STREAM_WINDOW) {
              await new Promise<void>((resolve) => call.once('drain', () => resolve()));
            }
            head?.trace?.mark('answered');
            head?.trace?.done(result?.eventId ?? '');
            if (queue.length < STREAM_WINDOW / 2 && call.isPaused()) call.resume();
          }
          if (ended && queue.length === 0 && !cancelled) call.end();
        } finally {
          writing = false;
        }
      };
      call.on('data', (event: Event) => {
        const i = index++;
        const eventId = requestEventId(event);
        const trace = pipeline.trace();
        queue.push({
          trace,
          result: pipeline.submit(ingestInput(event), trace).then(
            (r): SubmitResult => ({ index: i, eventId, receipt: receipt(r) }),
            (e: unknown): SubmitResult => ({
              index: i,
              eventId,
              rejection: toRejection(e, log, { eventId }),
            }),
          ),
        });
        if (queue.length >= STREAM_WINDOW) call.pause();
        void pump();
      });
      call.on('end', () => {
        ended = true;
        void pump();
      });
      call.on('cancelled', () => {
        cancelled = true;
      });
      call.on('error', (e) => {
        cancelled = true;
        log.warn({ err: e }, 'SubmitStream ended by the client');
      });
    },
  };
}

export type StartedGrpc = StartedGrpcServer;

/** The gateway's gRPC server: Ingest, grpc.health.v1.Health and server reflection, TLS or loopback plaintext. */
export function startGrpcServer(
  config: GatewayConfig['grpc'],
  pipeline: IngestPipeline,
  log: Logger,
  guard: GuardContext,
): Promise<StartedGrpc> {
  return serveGrpc({
    services: (server) => server.addService(StrictIngestService, ingestServer(pipeline, log)),
    health: { '': 'NOT_SERVING', 'wbx.v1.Ingest': 'NOT_SERVING' },
    protoFiles: ['wbx/v1/ingest.proto'],
    tls: config.tls,
    listen: config.listen,
    section: 'grpc',
    listener: 'ingest',
    guard,
  });
}

/** Stops accepting calls, lets the ones in flight finish (up to `graceMs`), then cuts the rest. */
export async function stopGrpcServer(server: Server, graceMs: number): Promise<void> {
  const listener = guardedListenerOf(server);
  listener?.stopAccepting();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      // grpc-js may call back while calls are still in flight (Node 24's Http2Server.close() closes the
      // sessions first, and grpc-js then takes them for closed): those end with their connections.
      void (listener?.closed() ?? Promise.resolve()).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  });
  // Connections that never became a gRPC session (e.g. still in their TLS handshake).
  listener?.destroyAll();
}
