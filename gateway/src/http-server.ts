import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

import { GuardedListener, type ConnectionLimits, type GuardContext } from './connection-guard.js';
import type { GatewayMetrics } from './metrics.js';

export interface HttpEndpoints {
  readonly server: Server;
  readonly address: string;
}

/** /healthz (the process lives), /readyz (NATS connected, streams present) and Prometheus /metrics. */
export async function startHttpServer(
  listen: string,
  metrics: GatewayMetrics,
  ready: () => { ready: boolean; reasons: string[] },
  guard: GuardContext,
): Promise<HttpEndpoints> {
  const server = createServer({ keepAliveTimeout: Math.min(5_000, guard.limits.idleTimeout) }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
    } else if (path === '/readyz') {
      const r = ready();
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify({ ready: r.ready, reasons: r.reasons })}\n`);
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  const guarded = await GuardedListener.listen({
    listen,
    setting: 'http.listen',
    listener: 'http',
    ctx: guard,
    lifetimeMs: guard.limits.maxConnectionAge,
    accept: requestDeadlines(server, guard.limits),
  });
  // The HTTP server itself never listens: closing it (http.Server#close emits 'close' at once) closes
  // the guarded listener and every connection it holds.
  server.once('close', () => guarded.close());
  return { server, address: guarded.address };
}

/**
 * Hands admitted connections to `server`, each with a deadline: a connection must deliver a request's
 * headers within `handshakeTimeout` of its arrival, or of its last response, else it is closed (Node's
 * headersTimeout is not checked for connections the server did not accept itself).
 */
function requestDeadlines(server: Server, limits: ConnectionLimits): (socket: Socket) => void {
  const state = new WeakMap<Socket, { pending: number; timer: NodeJS.Timeout | undefined }>();
  const arm = (socket: Socket): void => {
    const s = state.get(socket);
    if (s === undefined || s.pending > 0 || socket.destroyed) return;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => socket.destroy(), limits.handshakeTimeout).unref();
  };
  server.on('request', (req, res) => {
    const s = state.get(req.socket);
    if (s === undefined) return;
    s.pending += 1;
    clearTimeout(s.timer);
    res.once('close', () => {
      s.pending -= 1;
      arm(req.socket);
    });
  });
  return (socket) => {
    state.set(socket, { pending: 0, timer: undefined });
    socket.once('close', () => clearTimeout(state.get(socket)?.timer));
    arm(socket);
    server.emit('connection', socket);
  };
}
