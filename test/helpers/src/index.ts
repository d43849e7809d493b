export { containerRuntimeAvailable, startNatsContainer } from './containers.js';
export type { ContainerRuntimeStatus, NatsContainerOptions, StartedNats } from './containers.js';
export { NatsServerError } from './errors.js';
export type { NatsServerErrorCode } from './errors.js';
export { startNatsServer } from './nats-server.js';
export type { NatsServer, NatsServerOptions } from './nats-server.js';
export { makeIdentity } from './identity.js';
export type { Identity } from './identity.js';
