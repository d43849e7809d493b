// The gateway image (deploy/image/, `pnpm image`) run the way Kubernetes runs it: read-only root file
// system, every capability dropped, the non-root user of the image, configuration mounted read-only, the
// data directory a volume; NATS in a second container on the same network. Driven by testcontainers
// through podman's Docker-compatible API (no Docker daemon, no registry: both images are built here).
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { wbxBinary } from '@wbx/cli';
import { makeTestPki, type TestPki } from '@wbx/fixtures';
import {
  makeIdentity,
  podmanAvailable,
  spawnNode,
  startPodmanService,
  wbxImages,
  type Child,
} from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WBX = wbxBinary();
/** The image's user (deploy/image/Containerfile). */
const IMAGE_UID = 65532;
/** What rootful podman needs on this machine's kernel limits (see deploy/image/README.md). */
const ULIMITS = { nofile: { soft: 1024, hard: 4096 }, nproc: { soft: 1024, hard: 2048 } };
const EVENTS = 200;

/** Run by the image's node in the gateway container: what it may write, who it is, what the image holds. */
const PROBE = `
const fs = require('node:fs');
let write = 'written';
try { fs.writeFileSync('/app/probe', ''); } catch (e) { write = e.code; }
const list = (d) => { try { return fs.readdirSync(d).map((f) => d + '/' + f); } catch { return []; } };
const present = ['/bin/sh', '/bin/bash', '/usr/bin/apt-get', '/usr/bin/dpkg', '/usr/sbin/nats-server']
  .filter((f) => fs.existsSync(f));
const tmp = [...list('/tmp'), ...list('/var/tmp')];
console.log(JSON.stringify({ write, uid: process.getuid(), tmp, present }));
`;

const podman = await podmanAvailable();
if (!podman.available) console.warn(`skipping the container test: podman cannot run (${podman.reason})`);

/** `wbx <args>` on the host; resolves with the finished child once it exited with status 0. */
async function wbx(args: readonly string[]): Promise<Child> {
  const child = spawnNode([WBX, ...args], { env: { WBX_LOG_LEVEL: 'warn' } });
  const exit = await child.exit(120_000);
  if (exit !== 0) throw new Error(`wbx ${args[0] ?? ''} exited with ${exit}: ${child.stderr()}`);
  return child;
}

/** A file or directory the container's user must read (what a pod's fsGroup does for its Secrets). */
async function handOver(path: string): Promise<void> {
  if (process.getuid?.() === 0) await chown(path, IMAGE_UID, IMAGE_UID);
  else await chmod(path, 0o755);
}

let dir: string;
let pki: TestPki;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-ctr-'));
  pki = await makeTestPki();
});

afterAll(async () => {
  await pki[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!podman.available)('the gateway image (podman via testcontainers)', () => {
  it('ingests over mTLS into a read-only, non-root container and the events read back from NATS', async () => {
    await using service = await startPodmanService();
    // Read by testcontainers when it first looks for a runtime, below. Ryuk (its reaper) is an image
    // from a registry: disabled, every container here is stopped by `await using`.
    process.env['DOCKER_HOST'] = service.dockerHost;
    process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
    const images = await wbxImages();
    const { GenericContainer, ImageName, Network, Wait, getContainerRuntimeClient } =
      await import('testcontainers');
    const client = await getContainerRuntimeClient();

    // What the image says of itself: its user, the OCI labels, no HEALTHCHECK (Kubernetes probes do that).
    const { Config: config } = await client.image.inspect(ImageName.fromString(images.gateway));
    expect(config.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(config.Healthcheck ?? undefined).toBeUndefined();
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'wbx-gateway',
      'org.opencontainers.image.version': images.gateway.split(':').at(-1),
    });
    expect(config.Labels['org.opencontainers.image.revision']).toMatch(/^([0-9a-f]{40}(-dirty)?|unknown)$/);

    /** What testcontainers has no option for: the root file system read-only (`--read-only`). */
    class HardenedContainer extends GenericContainer {
      constructor(image: string) {
        super(image);
        this.hostConfig.ReadonlyRootfs = true;
        this.withDroppedCapabilities('ALL')
          .withSecurityOpt('no-new-privileges')
          .withUlimits(ULIMITS)
          .withStartupTimeout(120_000);
      }
    }

    // The partner's files, as an operator lays them out (deploy/README.md): identity, NATS access, TLS.
    const identity = await makeIdentity(join(dir, 'identity'), ['MK']);
    const etc = join(dir, 'etc');
    const data = join(dir, 'data');
    const natsDir = join(dir, 'nats');
    await mkdir(join(dir, 'agreements'), { recursive: true });
    await mkdir(data);
    await wbx([
      ...['nats-config', '--partner', 'MK', '--manifest', identity.manifestFile],
      ...['--agreements', join(dir, 'agreements'), '--out', natsDir],
    ]);
    await mkdir(etc);
    const files: Record<string, string> = {
      'MK.private.jwk': identity.keyFile('MK'),
      'manifest.json': identity.manifestFile,
      'gateway.nkey': join(natsDir, 'gateway.nkey'),
      'server.pem': pki.server.cert,
      'server.key': pki.server.key,
      'clients-ca.pem': pki.caA,
    };
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(etc, name));
    await writeFile(
      join(etc, 'gateway.yaml'),
      [
        'partner: MK',
        'key: /etc/wbx/MK.private.jwk',
        'manifest: /etc/wbx/manifest.json',
        'data: /var/lib/wbx',
        'nats: { url: "nats://nats:4222", nkeyFile: /etc/wbx/gateway.nkey }',
        'grpc:',
        '  listen: 0.0.0.0:7443',
        '  tls: { cert: /etc/wbx/server.pem, key: /etc/wbx/server.key, clientCa: /etc/wbx/clients-ca.pem }',
        'exchange:',
        '  listen: 0.0.0.0:8443',
        '  tls: { cert: /etc/wbx/server.pem, key: /etc/wbx/server.key, clientCa: /etc/wbx/clients-ca.pem }',
        'http: { listen: 0.0.0.0:9464 }',
        'agreements: /etc/wbx/agreements',
        '',
      ].join('\n'),
    );
    await mkdir(join(etc, 'agreements'));
    for (const name of [...Object.keys(files), 'gateway.yaml', 'agreements']) await handOver(join(etc, name));
    await handOver(etc);
    await handOver(data);
    await writeFile(
      join(natsDir, 'nats.conf'),
      'port: 4222\nhttp_port: 8222\njetstream { store_dir: "/data" }\ninclude ./nats-access.conf\n',
    );

    await using network = await new Network().start();
    // podman 4.3 lists an image's EXPOSE ports in HostConfig.PortBindings even when unpublished, and
    // testcontainers waits for every port listed there to be bound: each container publishes all of them.
    await using nats = await new HardenedContainer(images.nats)
      .withNetwork(network)
      .withNetworkAliases('nats')
      .withExposedPorts(4222, 8222)
      .withCopyFilesToContainer(
        ['nats.conf', 'nats-access.conf'].map((f) => ({
          source: join(natsDir, f),
          target: `/etc/nats/${f}`,
          mode: 0o644,
        })),
      )
      .withCommand(['--config', '/etc/nats/nats.conf'])
      .withWaitStrategy(Wait.forHttp('/healthz?js-enabled-only=true', 8222).forStatusCode(200))
      .start();

    await using gateway = await new HardenedContainer(images.gateway)
      .withNetwork(network)
      .withExposedPorts(7443, 8443, 9464)
      .withBindMounts([
        { source: etc, target: '/etc/wbx', mode: 'ro' },
        { source: data, target: '/var/lib/wbx', mode: 'rw' },
      ])
      .withWaitStrategy(Wait.forHttp('/readyz', 9464).forStatusCode(200))
      .start();

    // Ingest from the host over mutual TLS: the certificate names localhost, the port is published there.
    const events = join(dir, 'events.ndjson');
    await wbx([
      'generate',
      '--partner',
      'MK',
      '--count',
      String(EVENTS),
      '--seed',
      'container',
      '--out',
      events,
    ]);
    const ingest = await wbx([
      ...['ingest', '--gateway', `localhost:${gateway.getMappedPort(7443)}`, '--file', events],
      ...['--tls-ca', pki.caA, '--cert', pki.client.cert, '--key', pki.client.key],
    ]);
    expect(ingest.stderr()).toContain(`accepted ${EVENTS}, duplicates 0, rejected 0`);

    // Read back from the NATS container with the gateway's own credentials: every event, sealed by MK
    // (`jti` is the event id).
    const tail = await wbx([
      ...['tail', '--nats', `nats://localhost:${nats.getMappedPort(4222)}`],
      ...['--manifest', identity.manifestFile, '--nkey', join(natsDir, 'gateway.nkey')],
      ...['--count', String(EVENTS)],
    ]);
    const sent = (await readFile(events, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { eventId: string }).eventId);
    const stored = tail
      .stdout()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { jti: string; iss: string })
      .map(({ jti, iss }) => (iss === 'MK' ? jti : `${jti} from ${iss}`));
    expect(new Set(stored)).toEqual(new Set(sent));
    expect(stored).toHaveLength(EVENTS);

    // The state went to the volume and nowhere else: the root file system refuses writes, and the tmpfs
    // that podman's --read-only mounts on /tmp and /var/tmp (Kubernetes does not) stayed empty. The
    // process is the image's user; the image has no shell and no package manager.
    expect(JSON.parse(await readFile(join(data, 'trust', 'manifest.json'), 'utf8'))).toEqual(
      JSON.parse(await readFile(identity.manifestFile, 'utf8')),
    );
    expect((await readFile(join(data, 'exchange', 'subject-ref.secret'), 'utf8')).trim()).not.toBe('');
    const probe = await gateway.exec(['/usr/local/bin/node', '-e', PROBE]);
    expect(JSON.parse(probe.output)).toEqual({
      write: 'EROFS',
      uid: IMAGE_UID,
      tmp: [],
      present: [],
    });

    // SIGTERM (what Kubernetes sends) drains and ends the gateway with exit 0.
    const stopped = await gateway.stop({ timeout: 30_000, remove: false });
    const inspected = await client.container.inspect(client.container.getById(stopped.getId()));
    expect(inspected.State.ExitCode).toBe(0);
    await client.container.remove(client.container.getById(stopped.getId()), { removeVolumes: true });
  }, 600_000);
});
