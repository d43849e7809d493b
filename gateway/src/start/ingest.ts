import type { KeyObject } from 'node:crypto';

import { createSealer, type Sealer } from '@wbx/seal';
import type { Logger } from 'pino';

import type { GatewayConfig } from '../config.js';
import type { GuardContext } from '../connection-guard.js';
import { startGrpcServer, stopGrpcServer, type StartedGrpc } from '../grpc-server.js';
import { IngestPipeline } from '../ingest-pipeline.js';
import { RecordChanges } from '../record-changes.js';
import type { GatewayMetrics } from '../metrics.js';
import { SealPool } from '../workers/seal-pool.js';
import type { StartedNats } from './nats.js';

export interface IngestParts {
  readonly config: GatewayConfig;
  readonly nats: StartedNats;
  readonly signer: { readonly kid: string; readonly key: KeyObject };
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly guard: GuardContext;
  readonly drainMs: number;
  readonly now: (() => Date) | undefined;
}

export interface StartedIngest extends AsyncDisposable {
  readonly sealer: Sealer;
  readonly pipeline: IngestPipeline;
  readonly grpc: StartedGrpc;
  /** Takes no new calls and lets those in flight finish within `drainMs` (once; disposing does it too). */
  stopCalls(): Promise<void>;
}

/**
 * Ingest: the sealer (and its worker pool), the pipeline into WBX_EVENTS, and the gRPC server (Ingest,
 * health, reflection), whose health follows the NATS connection. Disposing stops new calls, lets the calls
 * in flight finish within `drainMs`, then drains the pipeline and closes the pool.
 */
export async function startIngest(parts: IngestParts): Promise<StartedIngest> {
  const { config, nats, signer, log, metrics } = parts;
  await using stack = new AsyncDisposableStack();
  const sealing = { issuer: config.partner, kid: signer.kid, privateKey: signer.key };
  const sealer = createSealer(sealing);
  const { sealWorkers } = config.ingest;
  const sealPool = sealWorkers === 0 ? undefined : new SealPool({ ...sealing, size: sealWorkers }, sealer);
  if (sealPool !== undefined) stack.defer(() => sealPool.close());
  const pipeline = new IngestPipeline({
    partner: config.partner,
    js: nats.js,
    sealer,
    sealPool,
    metrics,
    log,
    publishTimeoutMs: config.nats.publishTimeout,
    ...(parts.now === undefined ? {} : { now: parts.now }),
    changes: await RecordChanges.open({
      partner: config.partner,
      js: nats.js,
      jsm: nats.jsm,
      replicas: config.streams.replicas,
    }),
  });
  stack.defer(() => pipeline.drain());
  const grpc = await startGrpcServer(config.grpc, pipeline, log, parts.guard);
  let stopping: Promise<void> | undefined;
  const stopCalls = (): Promise<void> => {
    grpc.health.setStatus('', 'NOT_SERVING');
    grpc.health.setStatus('wbx.v1.Ingest', 'NOT_SERVING');
    stopping ??= stopGrpcServer(grpc.server, parts.drainMs);
    return stopping;
  };
  stack.defer(stopCalls);
  const setHealth = (): void => {
    const state = nats.state.connected && nats.state.eventsStream ? 'SERVING' : 'NOT_SERVING';
    grpc.health.setStatus('', state);
    grpc.health.setStatus('wbx.v1.Ingest', state);
  };
  setHealth();
  nats.onChange(setHealth);
  const owned = stack.move();
  return {
    sealer,
    pipeline,
    grpc,
    stopCalls,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
