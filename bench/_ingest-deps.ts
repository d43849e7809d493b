// The ingest benchmark's imports that the root package does not provide by name: the gateway's internal
// modules (not part of @wbx/gateway's public face) from its build, and the NATS and gRPC clients the
// gateway depends on, from the gateway's own node_modules (the same module instances it uses).
// Types come from the gateway's sources, so type checking does not need a build.
import type * as ConfigModule from '@wbx/gateway';
import type * as LoggerModule from '@wbx/gateway';
import type * as MetricsModule from '@wbx/gateway';
import type * as PipelineModule from '@wbx/gateway';
import type * as StreamsModule from '@wbx/gateway';
import type * as SealPoolModule from '@wbx/gateway';

export {
  credentials,
  Metadata,
  type ServiceError,
} from '../gateway/node_modules/@grpc/grpc-js/build/src/index.js';
export { connect, type NatsConnection } from '../gateway/node_modules/@nats-io/transport-node/lib/mod.js';
export {
  jetstream,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
} from '../gateway/node_modules/@nats-io/jetstream/lib/mod.js';

const dist = (file: string): string => new URL(`../gateway/dist/node/${file}`, import.meta.url).href;

export const { loadGatewayConfig } = (await import(dist('config.js'))) as typeof ConfigModule;
export const { createLogger } = (await import(dist('logger.js'))) as typeof LoggerModule;
export const { GatewayMetrics } = (await import(dist('metrics.js'))) as typeof MetricsModule;
export const { IngestPipeline } = (await import(dist('ingest-pipeline.js'))) as typeof PipelineModule;
export const { SealPool } = (await import(dist('../seal-pool.js'))) as typeof SealPoolModule;
export const { EVENTS_STREAM, ensureStream, eventsStreamConfig } = (await import(
  dist('streams.js')
)) as typeof StreamsModule;
