import { ServerCredentials, type Server, type ServerOptions } from '@grpc/grpc-js';

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
export function grpcLimitOptions(limits: ConnectionLimits): ServerOptions {
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
export async function bindGuarded(
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
