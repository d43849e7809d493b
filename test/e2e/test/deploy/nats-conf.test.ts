import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createUser } from '@nats-io/nkeys';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { makeRouteTls, startNatsCluster, until, type NatsCluster } from '@wbx/test-helpers';

const run = promisify(execFile);
const K8S = fileURLToPath(new URL('../../../../deploy/k8s/', import.meta.url));
const NATS_SERVER = process.env.WBX_NATS_SERVER ?? 'nats-server';

/**
 * The StatefulSet's nats.conf, booted as three nodes on 127.0.0.1 by the cluster harness (which boots this
 * very file for every cluster test, with the environment variables the StatefulSet sets, ports and names for
 * this machine instead, and TLS routes), here with MK's nats-access.conf from its overlay (the gateway's user
 * replaced by one whose seed this test holds, and the TLS paths of a temp dir): TLS on routes and clients.
 */
describe('deploy/k8s/base/nats/nats.conf on a 3-node cluster', () => {
  let dir: string;
  let tls: { cert: string; key: string; ca: string };
  let cluster: NatsCluster;
  const stack = new AsyncDisposableStack();
  const gateway = createUser();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wbx-nats-conf-'));
    tls = await makeRouteTls(dir);
    const access = (await readFile(`${K8S}overlays/mk/nats-access.conf`, 'utf8'))
      .replaceAll('/etc/nats-tls/tls.crt', tls.cert)
      .replaceAll('/etc/nats-tls/tls.key', tls.key)
      .replace(/(WBX: \{\n(?:.*\n)*? {4}users: \[ \{ nkey: ")U[A-Z0-9]+/, `$1${gateway.getPublicKey()}`);
    expect(access).toContain(gateway.getPublicKey());
    expect(access).not.toContain('/etc/nats-tls/');
    cluster = stack.use(await startNatsCluster(3, { config: access, startTimeout: 90_000 }));
    // As the StatefulSet's startup probe: /healthz on every node (JetStream up, the meta group formed).
    await until(
      'every node healthy',
      async () => {
        const ok = await Promise.all(
          cluster.monitorUrls.map((u) =>
            fetch(`${u}/healthz`)
              .then((r) => r.ok)
              .catch(() => false),
          ),
        );
        return ok.every(Boolean);
      },
      90_000,
      250,
    );
  }, 120_000);

  afterAll(async () => {
    await stack.disposeAsync();
    await rm(dir, { recursive: true, force: true });
  });

  it('forms the cluster over TLS routes and stores R3 for the gateway’s user over a TLS client port', async () => {
    const nc = await connect({
      servers: cluster.servers.map((n) => `tls://127.0.0.1:${n.port}`),
      tls: { caFile: tls.ca },
      authenticator: nkeyAuthenticator(gateway.getSeed()),
    });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await until(
        'an R3 stream',
        () =>
          jsm.streams
            .add({ name: 'DEPLOY_CHECK', subjects: ['deploy.check'], num_replicas: 3 })
            .catch(() => false as const),
        60_000,
        500,
      );
      expect(info.config.num_replicas).toBe(3);
      await jetstream(nc).publish('deploy.check', 'one');
      const state = await until(
        'the stream led, with two current replicas',
        async () => {
          const i = await jsm.streams.info('DEPLOY_CHECK');
          const current = (i.cluster?.replicas ?? []).filter((r) => r.current).length;
          return i.cluster?.leader !== undefined && current === 2 ? i : false;
        },
        60_000,
        250,
      );
      expect(state.state.messages).toBe(1);
      expect(state.cluster?.name).toBe(cluster.name);
    } finally {
      await nc.close();
    }
    // A client without TLS is refused: the access file's tls block covers the client port.
    await expect(
      connect({
        servers: cluster.urls[0] ?? '',
        authenticator: nkeyAuthenticator(gateway.getSeed()),
        tls: null,
        maxReconnectAttempts: 0,
        timeout: 5_000,
      }),
    ).rejects.toThrow();
  }, 150_000);

  it('reloads on the runbook’s signal (a new recipient’s user) and stays healthy', async () => {
    await run(NATS_SERVER, ['--signal', `reload=${cluster.servers[0]?.pid ?? 0}`]);
    const reloaded = await until(
      'the reload seen in /varz',
      async () => {
        const varz = (await (await fetch(`${cluster.monitorUrls[0] ?? ''}/varz`)).json()) as {
          config_load_time: string;
          start: string;
        };
        return varz.config_load_time !== varz.start && varz;
      },
      30_000,
      100,
    );
    expect(Date.parse(reloaded.config_load_time)).toBeGreaterThan(Date.parse(reloaded.start));
    expect((await fetch(`${cluster.monitorUrls[0] ?? ''}/healthz?js-enabled-only=true`)).ok).toBe(true);
  });

  it('reports in /varz the deploy settings: its pod name, TLS, the cluster, the payload and JetStream limits', async () => {
    const varz = (await (await fetch(`${cluster.monitorUrls[0] ?? ''}/varz`)).json()) as {
      server_name: string;
      cluster: { name: string };
      tls_required: boolean;
      max_payload: number;
      jetstream: { config: { max_storage: number; max_memory: number } };
    };
    expect(varz.server_name).toBe('n0');
    expect(varz.tls_required).toBe(true);
    expect(varz.cluster.name).toBe(cluster.name);
    expect(varz.max_payload).toBe(1024 * 1024);
    expect(varz.jetstream.config.max_storage).toBe(45_000_000_000); // NATS_MAX_FILE_STORE 45G: decimal
    expect(varz.jetstream.config.max_memory).toBe(256 * 1024 * 1024);
  });
});
