import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createUser } from '@nats-io/nkeys';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { until } from '@wbx/test-helpers';

const run = promisify(execFile);
const K8S = fileURLToPath(new URL('../../../../deploy/k8s/', import.meta.url));
const NATS_SERVER = process.env.WBX_NATS_SERVER ?? 'nats-server';

/** Ports free on 127.0.0.1 now (bound together to port 0, then closed). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * A CA and one certificate for both ends of TLS (serverAuth and clientAuth, as the StatefulSet's nats-tls
 * Secret holds: routes present it as clients), made with openssl as deploy/README.md does.
 */
async function makeNatsTls(dir: string): Promise<void> {
  const o = (...args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  await o(
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'],
    ...['-subj', '/CN=WBX NATS test CA', '-keyout', 'ca.key', '-out', 'ca.crt'],
  );
  await writeFile(
    join(dir, 'ext.cnf'),
    [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'extendedKeyUsage = serverAuth,clientAuth',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
    ].join('\n'),
  );
  await o(
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=nats'],
    ...['-keyout', 'tls.key', '-out', 'tls.csr'],
  );
  await o(
    ...['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
    ...['-days', '2', '-extfile', 'ext.cnf', '-out', 'tls.crt'],
  );
}

/**
 * The StatefulSet's nats.conf, booted as three nodes on 127.0.0.1: the same file, the environment
 * variables the StatefulSet sets (ports and names for this machine instead), MK's nats-access.conf from its
 * overlay (with the gateway's user replaced by one whose seed this test holds, and the TLS paths of this
 * temp dir), TLS on routes and clients.
 */
describe('deploy/k8s/base/nats/nats.conf on a 3-node cluster', () => {
  let dir: string;
  const nodes: ChildProcess[] = [];
  let clientPorts: number[] = [];
  let monitorPorts: number[] = [];
  const gateway = createUser();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wbx-nats-conf-'));
    await makeNatsTls(dir);
    await copyFile(`${K8S}base/nats/nats.conf`, join(dir, 'nats.conf'));
    const access = (await readFile(`${K8S}overlays/mk/nats-access.conf`, 'utf8'))
      .replaceAll('/etc/nats-tls/', `${dir}/`)
      .replace(/(WBX: \{\n(?:.*\n)*? {4}users: \[ \{ nkey: ")U[A-Z0-9]+/, `$1${gateway.getPublicKey()}`);
    expect(access).toContain(gateway.getPublicKey());
    await writeFile(join(dir, 'nats-access.conf'), access);
    const ports = await freePorts(9);
    clientPorts = ports.slice(0, 3);
    const routePorts = ports.slice(3, 6);
    monitorPorts = ports.slice(6);
    for (let i = 0; i < 3; i++) {
      const env = {
        ...process.env,
        SERVER_NAME: `nats-${i}`,
        NATS_HOST: '127.0.0.1',
        NATS_CLIENT_PORT: String(clientPorts[i]),
        NATS_ROUTE_PORT: String(routePorts[i]),
        NATS_MONITOR: `127.0.0.1:${monitorPorts[i]}`,
        NATS_STORE_DIR: join(dir, `store-${i}`),
        NATS_MAX_FILE_STORE: '256M',
        NATS_CLUSTER_NAME: 'wbx',
        ...Object.fromEntries(routePorts.map((p, j) => [`NATS_ROUTE_${j}`, `nats-route://127.0.0.1:${p}`])),
        NATS_ROUTE_TLS_CERT: join(dir, 'tls.crt'),
        NATS_ROUTE_TLS_KEY: join(dir, 'tls.key'),
        NATS_ROUTE_TLS_CA: join(dir, 'ca.crt'),
      };
      // The StatefulSet's arguments, with this directory's paths.
      const args = ['--config', join(dir, 'nats.conf'), '--pid', join(dir, `nats-${i}.pid`)];
      const child = spawn(NATS_SERVER, args, { env, stdio: 'ignore' });
      nodes.push(child);
    }
    // As the StatefulSet's startup probe: /healthz on every node (JetStream up, the meta group formed).
    await until(
      'every node healthy',
      async () => {
        const ok = await Promise.all(
          monitorPorts.map((p) =>
            fetch(`http://127.0.0.1:${p}/healthz`)
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
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.exitCode !== null || n.signalCode !== null) resolve();
            else {
              n.once('exit', () => resolve());
              n.kill('SIGKILL');
            }
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  });

  it('forms the cluster over TLS routes and stores R3 for the gateway’s user over a TLS client port', async () => {
    const nc = await connect({
      servers: clientPorts.map((p) => `tls://127.0.0.1:${p}`),
      tls: { caFile: join(dir, 'ca.crt') },
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
      expect(state.cluster?.name).toBe('wbx');
    } finally {
      await nc.close();
    }
    // A client without TLS is refused: the access file's tls block covers the client port.
    await expect(
      connect({
        servers: `nats://127.0.0.1:${clientPorts[0]}`,
        authenticator: nkeyAuthenticator(gateway.getSeed()),
        tls: null,
        maxReconnectAttempts: 0,
        timeout: 5_000,
      }),
    ).rejects.toThrow();
  }, 150_000);

  it('reloads on the runbook’s signal (a new recipient’s user) and stays healthy', async () => {
    await run(NATS_SERVER, ['--signal', `reload=${join(dir, 'nats-0.pid')}`]);
    const reloaded = await until(
      'the reload seen in /varz',
      async () => {
        const varz = (await (await fetch(`http://127.0.0.1:${monitorPorts[0]}/varz`)).json()) as {
          config_load_time: string;
          start: string;
        };
        return varz.config_load_time !== varz.start && varz;
      },
      30_000,
      100,
    );
    expect(Date.parse(reloaded.config_load_time)).toBeGreaterThan(Date.parse(reloaded.start));
    expect((await fetch(`http://127.0.0.1:${monitorPorts[0]}/healthz?js-enabled-only=true`)).ok).toBe(true);
  });

  it('reports in /varz the deploy settings: its pod name, TLS, the cluster, the payload and JetStream limits', async () => {
    const varz = (await (await fetch(`http://127.0.0.1:${monitorPorts[0]}/varz`)).json()) as {
      server_name: string;
      cluster: { name: string };
      tls_required: boolean;
      max_payload: number;
      jetstream: { config: { max_storage: number; max_memory: number } };
    };
    expect(varz.server_name).toBe('nats-0');
    expect(varz.tls_required).toBe(true);
    expect(varz.cluster.name).toBe('wbx');
    expect(varz.max_payload).toBe(1024 * 1024);
    expect(varz.jetstream.config.max_storage).toBe(256_000_000); // NATS_MAX_FILE_STORE 256M: decimal
    expect(varz.jetstream.config.max_memory).toBe(256 * 1024 * 1024);
  });
});
