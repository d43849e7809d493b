// Gateway replicas starting on a three-node JetStream cluster with `streams.replicas: 3` (issue #14): two
// replicas started at the same moment race to create every stream, bucket and consumer, and a replica
// started while the cluster has no quorum waits for it. Neither fails the start (the gateway used to exit
// 70 on the first NATS request that timed out or lost a create race): both wait, /readyz says for what,
// and they are ready once NATS answers.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Gateway, loadGatewayConfig, type GatewayConfig } from '@wbx/gateway';
import { makeIdentity, startNatsCluster, until, type NatsCluster } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

const log = pino({ level: process.env.WBX_TEST_LOG ?? 'silent' });

interface Readyz {
  readonly status: number;
  readonly body: { ready: boolean; reasons: string[] };
}

async function readyz(httpAddress: string): Promise<Readyz> {
  const res = await fetch(`http://${httpAddress}/readyz`);
  return { status: res.status, body: (await res.json()) as Readyz['body'] };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Deletes every stream (and so every bucket and consumer): the next start creates them all again. */
async function deleteStreams(jsm: JetStreamManager): Promise<void> {
  const names = await until(
    'the stream names',
    async () => {
      const out: string[] = [];
      try {
        for await (const name of jsm.streams.names()) out.push(name);
      } catch {
        return undefined;
      }
      return out;
    },
    60_000,
  );
  for (const name of names) {
    await until(`${name} deleted`, () => jsm.streams.delete(name).catch(() => false), 60_000);
  }
}

/** Starts every config at once; if one fails, the others are stopped again before it throws. */
async function startAll(configs: readonly GatewayConfig[]): Promise<Gateway[]> {
  const started = await Promise.allSettled(configs.map((c) => Gateway.start(c, { log, drainMs: 2_000 })));
  const gateways = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(gateways.map((g) => g.stop()));
    throw failed.reason;
  }
  return gateways;
}

describe('gateway replicas starting on a 3-node cluster (streams.replicas: 3)', () => {
  it('two replicas started at once both become ready, 3 times; one without quorum waits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-replica-start-'));
    try {
      await using cluster: NatsCluster = await startNatsCluster(3);
      await using nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1 });
      const jsm = await until('JetStream', () => jetstreamManager(nc).catch(() => undefined), 60_000);
      const identity = await makeIdentity(dir, ['MK']);
      const configOf = (data: string, http = '127.0.0.1:0'): Promise<GatewayConfig> =>
        loadGatewayConfig(
          undefined,
          {},
          {
            partner: 'MK',
            key: identity.keyFile('MK'),
            manifest: identity.manifestFile,
            data: join(dir, data),
            'nats.url': cluster.urls.join(','),
            'grpc.listen': '127.0.0.1:0',
            'grpc.insecure': true,
            'http.listen': http,
            'streams.replicas': 3,
            'ingest.sealWorkers': 0,
          },
        );

      for (let round = 1; round <= 3; round++) {
        // Fresh data dirs: the audit anchors of the last round name a chain that was deleted with it.
        const gateways = await startAll([await configOf(`r${round}-a`), await configOf(`r${round}-b`)]);
        try {
          for (const g of gateways) {
            expect(await readyz(g.httpAddress)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
          }
          const events = await until('WBX_EVENTS', () =>
            jsm.streams.info('WBX_EVENTS').catch(() => undefined),
          );
          expect(events.config.num_replicas).toBe(3);
        } finally {
          await Promise.all(gateways.map((g) => g.stop()));
        }
        await deleteStreams(jsm);
      }

      // Two of three nodes down: JetStream has no quorum. A replica started now waits, not ready, saying
      // for what; it is ready once the nodes are back.
      await cluster.kill(1);
      await cluster.kill(2);
      const http = `127.0.0.1:${String(await freePort())}`;
      const starting = Gateway.start(await configOf('no-quorum', http), { log, drainMs: 2_000 });
      // Handled now, awaited below: a start that fails while the nodes are down fails the test there.
      starting.catch(() => undefined);
      const waiting = await until(
        '/readyz naming what the start waits for',
        async () => {
          const r = await readyz(http).catch(() => undefined);
          return r?.body.reasons.some((reason) => reason.includes('waiting for NATS')) === true
            ? r
            : undefined;
        },
        60_000,
      );
      expect(waiting.status).toBe(503);
      expect(waiting.body.ready).toBe(false);
      await cluster.restart(1);
      await cluster.restart(2);
      const gateway = await starting;
      try {
        expect(await readyz(http)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
      } finally {
        await gateway.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
