import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { Server, ServerCredentials, type ServerOptions } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoDir } from '@wbx/proto';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatusMap } from 'grpc-health-check';

import { ConfigError } from './config.js';
import {
  GuardedListener,
  type ConnectionLimits,
  type GuardContext,
  type ListenerName,
} from './connection-guard.js';

/**
 * grpc-js's own connection limits (all read by its Server in 1.14.7): close a connection idle for
 * `idleTimeout`; after `maxConnectionAge` (±10 %) send GOAWAY and close it `maxConnectionAgeGrace` later
 * whatever its calls (which bounds how long any stream, idle or not, can live); ping each connection every
 * `keepaliveTime` and close it when no answer comes within `keepaliveTimeout`; at most
 * `maxConcurrentStreams` calls per connection (HTTP/2 SETTINGS). grpc-js has no server option that
 * polices a client's own ping rate (`grpc.http2.min_ping_interval_without_data_ms` is not read).
 */
function grpcLimitOptions(limits: ConnectionLimits): ServerOptions {
  return {
    'grpc.max_connection_idle_ms': limits.idleTimeout,
    'grpc.max_connection_age_ms': limits.maxConnectionAge,
    'grpc.max_connection_age_grace_ms': limits.maxConnectionAgeGrace,
    'grpc.keepalive_time_ms': limits.keepaliveTime,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeout,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
  };
}

/**
 * Secure credentials whose TLS server aborts a handshake that makes no progress for `timeoutMs` (Node's
 * `handshakeTimeout`, which grpc-js passes through from the credentials' constructor options).
 */
class HandshakeTimeoutCredentials extends ServerCredentials {
  constructor(inner: ServerCredentials, timeoutMs: number) {
    const options = inner._getConstructorOptions();
    super(
      options === null ? null : { ...options, handshakeTimeout: timeoutMs },
      inner._getSecureContextOptions() ?? undefined,
    );
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/** The guarded listener in front of each gRPC server, so that stopping the server closes it too. */
const listeners = new WeakMap<Server, GuardedListener>();

/**
 * Serves `server` on `listen` behind a GuardedListener: the connection caps apply to the raw TCP socket
 * before any TLS, then the socket goes to grpc-js through its connection injector (TLS with the
 * handshake timeout, HTTP/2, calls). Returns the address with the actual port.
 */
async function bindGuarded(
  server: Server,
  credentials: ServerCredentials,
  options: { listen: string; setting: string; listener: ListenerName; ctx: GuardContext },
): Promise<string> {
  const { limits } = options.ctx;
  const secure = credentials._isSecure();
  const injector = server.createConnectionInjector(
    secure ? new HandshakeTimeoutCredentials(credentials, limits.handshakeTimeout) : credentials,
  );
  const guarded = await GuardedListener.listen({
    ...options,
    // grpc-js closes a connection by maxConnectionAge + 10 % + grace; this backstop also bounds a
    // handshake that trickles in.
    lifetimeMs:
      Math.ceil(limits.maxConnectionAge * 1.1) + limits.maxConnectionAgeGrace + limits.handshakeTimeout,
    accept: (socket) => injector.injectConnection(socket),
  });
  listeners.set(server, guarded);
  return guarded.address;
}

/** The listener in front of `server`, if it was bound with bindGuarded. */
export function guardedListenerOf(server: Server): GuardedListener | undefined {
  return listeners.get(server);
}

/** A gRPC server of the gateway, listening, with its health service. */
export interface StartedGrpcServer {
  readonly server: Server;
  /** `host:port` with the actual port. */
  readonly address: string;
  /** grpc.health.v1.Health: the caller sets each service's status as it becomes ready or stops. */
  readonly health: HealthImplementation;
}

/** PEM files of a TLS server; with `clientCa`, clients must present a certificate it signed. */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
  readonly clientCa?: string;
}

export interface GrpcServerOptions {
  /** Adds the server's own services. */
  readonly services: (server: Server) => void;
  /** The health service's first statuses, by service name (`''`: the server as a whole). */
  readonly health: ServingStatusMap;
  /** The proto files (under @wbx/proto's protoDir) that reflection describes, with the health service. */
  readonly protoFiles: readonly string[];
  /** TLS, or undefined for plaintext (loopback only; the configuration checks that). */
  readonly tls: ServerTls | undefined;
  readonly listen: string;
  /** The configuration section, for a ConfigError: `grpc` names `grpc.listen` and `grpc.tls`. */
  readonly section: 'grpc' | 'exchange';
  readonly listener: ListenerName;
  readonly guard: GuardContext;
}

/** TLS credentials from PEM files; a file that cannot be read is a ConfigError naming `<section>.tls`. */
async function serverCredentials(tls: ServerTls | undefined, section: string): Promise<ServerCredentials> {
  if (tls === undefined) return ServerCredentials.createInsecure();
  try {
    const [cert, key, ca] = await Promise.all([
      readFile(tls.cert),
      readFile(tls.key),
      tls.clientCa === undefined ? Promise.resolve(null) : readFile(tls.clientCa),
    ]);
    return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
  } catch (e) {
    throw new ConfigError([{ path: `${section}.tls`, message: (e as Error).message }], { cause: e });
  }
}

/**
 * Starts a gRPC server of the gateway: its services, grpc.health.v1.Health and server reflection, with
 * grpc-js's connection limits, behind a GuardedListener on `listen` (connection caps and the TLS handshake
 * timeout in front of grpc-js). Throws a ConfigError naming the setting when the TLS files cannot be read
 * or the address cannot be bound.
 */
export async function serveGrpc(options: GrpcServerOptions): Promise<StartedGrpcServer> {
  const { guard, section } = options;
  const server = new Server({
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    ...grpcLimitOptions(guard.limits),
  });
  options.services(server);
  const health = new HealthImplementation(options.health);
  health.addToServer(server);
  const definition = loadSync([...options.protoFiles, healthProtoPath], {
    includeDirs: [protoDir, dirname(healthProtoPath)],
  });
  new ReflectionService(definition).addToServer(server);
  try {
    const credentials = await serverCredentials(options.tls, section);
    const where = {
      listen: options.listen,
      setting: `${section}.listen`,
      listener: options.listener,
      ctx: guard,
    };
    const address = await bindGuarded(server, credentials, where);
    return { server, address, health };
  } catch (e) {
    server.forceShutdown();
    throw e;
  }
}
