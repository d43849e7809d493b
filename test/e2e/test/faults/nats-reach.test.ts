// NATS that cannot be reached: an external NATS down at start (the gateway waits, not ready, and becomes
// ready when it comes), an origin's NATS down for a recipient (reported by a gauge), and the embedded
// nats-server's client port, which stays the same across restarts so that recipients find it again.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { credentials, Metadata } from '@grpc/grpc-js';
import { ConfigError, Gateway, loadGatewayConfig } from '@wbx/gateway';
import { Event, IngestClient, type Receipt } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { makeIdentity, startNatsServer, until } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { startFederation } from '@wbx/fixtures';

const log = pino({ level: process.env.WBX_TEST_LOG ?? 'silent' });

interface Readyz {
  readonly status: number;
  readonly body: { ready: boolean; reasons: string[] };
}

async function readyz(httpAddress: string): Promise<Readyz> {
  const res = await fetch(`http://${httpAddress}/readyz`);
  return { status: res.status, body: (await res.json()) as Readyz['body'] };
}

/** The value of `wbx_receive_origin_reachable{origin}` on a gateway's /metrics, if it is there. */
async function originReachable(gateway: Gateway, origin: string): Promise<number | undefined> {
  const text = await (await fetch(`http://${gateway.httpAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`wbx_receive_origin_reachable{origin="${origin}"}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Listens on a free loopback port (to hold it, or to reserve it for a moment). */
async function listenAnywhere(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { server, port: address.port };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

const AGREEMENT = {
  id: 'MK-RS-reach',
  provider: 'MK',
  recipient: 'RS',
  purposes: ['border-management'],
  legalBasis: 'test',
  validFrom: new Date(Date.now() - 3_600_000).toISOString(),
  validUntil: new Date(Date.now() + 86_400_000).toISOString(),
  terms: [{ types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 7 }],
};

describe('the embedded nats-server port', () => {
  it('is the same after a restart of the gateway on the same data directory', async () => {
    await using fed = await startFederation(['MK']);
    const first = await fed.start('MK');
    const url = first.natsUrl;
    await first.stop();
    const second = await fed.start('MK');
    expect(second.natsUrl).toBe(url);
  }, 60_000);

  it('is a configuration error naming nats.port when another process holds it', async () => {
    await using fed = await startFederation(['MK']);
    const first = await fed.start('MK');
    await first.stop();
    const port = Number(new URL(first.natsUrl).port);
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port }, resolve));
    try {
      const error = await fed.start('MK').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['nats.port']);
      expect((error as ConfigError).message).toContain(`port ${String(port)}`);
    } finally {
      await close(squatter);
    }
  }, 60_000);

  it('is nats.port when configured', async () => {
    await using fed = await startFederation(['MK']);
    const { server, port } = await listenAnywhere();
    await close(server);
    const mk = await fed.start('MK', { settings: { 'nats.port': port } });
    expect(mk.natsUrl).toBe(`nats://127.0.0.1:${String(port)}`);
  }, 60_000);
});

describe('an origin a recipient cannot reach', () => {
  it('is reported by wbx_receive_origin_reachable, and reachable again at the same URL', async () => {
    await using fed = await startFederation(['MK', 'RS']);
    await fed.agree(AGREEMENT);
    const mk = await fed.start('MK');
    const rs = await fed.start('RS', {
      receiveFrom: [mk],
      settings: { 'nats.originUnreachableAfter': '1s' },
    });
    expect(await until('MK reachable', async () => (await originReachable(rs, 'MK')) === 1)).toBe(true);
    await mk.stop(); // MK's embedded nats-server stops with it
    expect(await until('MK reported unreachable', async () => (await originReachable(rs, 'MK')) === 0)).toBe(
      true,
    );
    // RS keeps its own ingest: it stays ready.
    expect(await readyz(rs.httpAddress)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
    await fed.start('MK');
    expect(
      await until('MK reachable again', async () => (await originReachable(rs, 'MK')) === 1, 30_000),
    ).toBe(true);
  }, 90_000);
});

describe('NATS unreachable at start', () => {
  it('is waited for: not ready naming it, then ready when it comes, and a Submit is stored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-reach-'));
    try {
      const nats = await startNatsServer();
      await using _nats = nats;
      await nats.stop();
      const identity = await makeIdentity(dir, ['MK']);
      const { server, port } = await listenAnywhere();
      await close(server);
      const http = `127.0.0.1:${String(port)}`;
      const config = await loadGatewayConfig(
        undefined,
        {},
        {
          partner: 'MK',
          key: identity.keyFile('MK'),
          manifest: identity.manifestFile,
          data: join(dir, 'data'),
          'nats.url': nats.url,
          'grpc.listen': '127.0.0.1:0',
          'grpc.insecure': true,
          'http.listen': http,
        },
      );
      const starting = Gateway.start(config, { log, drainMs: 2_000 });
      const waiting = await until('the HTTP endpoints', () => readyz(http).catch(() => undefined));
      expect(waiting).toEqual({ status: 503, body: { ready: false, reasons: ['NATS unreachable'] } });
      await nats.restart();
      const gateway = await starting;
      try {
        expect(gateway.httpAddress).toBe(http);
        expect(await readyz(http)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
        const [event] = generateEvents({
          partner: 'MK',
          count: 1,
          seed: 'nats-reach',
          from: new Date('2024-01-01T00:00:00Z'),
          to: new Date('2024-01-02T00:00:00Z'),
        });
        const client = new IngestClient(gateway.grpcAddress, credentials.createInsecure());
        try {
          const result = await new Promise<Receipt>((resolve, reject) => {
            client.submit(Event.fromJSON(event), new Metadata(), { deadline: Date.now() + 15_000 }, (e, r) =>
              e ? reject(e) : resolve(r),
            );
          });
          expect(result).toMatchObject({ seq: 1, duplicate: false });
        } finally {
          client.close();
        }
      } finally {
        await gateway.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
