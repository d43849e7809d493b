export { podmanAvailable, startPodmanService, wbxImages } from './podman.js';
export type { ContainerRuntimeStatus, PodmanService, WbxImages } from './podman.js';
export { NatsServerError, type NatsServerErrorCode } from '@wbx/nats-server';
export { startNatsServer } from './nats-server.js';
export type { NatsServer, NatsServerOptions } from './nats-server.js';
export { makeIdentity } from './identity.js';
export type { Identity } from './identity.js';
export {
  gatewayReady,
  spawnNode,
  startGatewayProcess,
  type Child,
  type ChildOptions,
  type GatewayProcess,
  type GatewayReadyLine,
} from './child.js';
export { until } from './until.js';
export { freePorts } from './internal/free-ports.js';
export { deployNatsEnv, makeRouteTls, startNatsCluster } from './nats-cluster.js';
export type { NatsCluster, NatsClusterOptions, NodeJetStreamView } from './nats-cluster.js';
