import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ConfigError } from './config.js';
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
): Promise<HttpEndpoints> {
  const server = createServer((req, res) => {
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
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => {
      reject(
        new ConfigError([{ path: 'http.listen', message: `cannot listen on ${listen}: ${e.message}` }], {
          cause: e,
        }),
      );
    });
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return { server, address: `${listen.slice(0, listen.lastIndexOf(':'))}:${actual}` };
}
