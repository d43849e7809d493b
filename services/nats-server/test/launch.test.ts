import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AuthorizationError, connect } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { launchNatsServer, natsServerConfig, type NatsServerProcess } from '../src/index.js';

const binary = process.env['WBX_NATS_SERVER'] ?? 'nats-server';
let dir: string;
let running: NatsServerProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-nats-launch-'));
});
afterEach(async () => {
  await running?.stop(5_000);
  running = undefined;
  await rm(dir, { recursive: true, force: true });
});

const users = (password: string): string =>
  `authorization {\n  users = [\n    { user: "alice", password: "${password}" }\n  ]\n}`;

describe('launchNatsServer', () => {
  it('is ready when it accepts clients; reloads its configuration on SIGHUP; stops on SIGTERM', async () => {
    const configFile = join(dir, 'nats-server.conf');
    const config = { port: -1, portsFileDir: dir, serverName: 'launch_test', pidFile: join(dir, 'pid') };
    await writeFile(configFile, natsServerConfig({ ...config, extra: users('first') }));
    // A ports file left by an earlier server is no sign of this one being ready.
    await writeFile(join(dir, 'nats-server_1.ports'), '{"nats":["nats://127.0.0.1:1"]}');
    const server = await launchNatsServer({ binary, configFile, portsFileDir: dir, timeoutMs: 10_000 });
    running = server;
    expect(server.running).toBe(true);
    const url = `nats://127.0.0.1:${server.port}`;
    await (await connect({ servers: url, user: 'alice', pass: 'first', reconnect: false })).close();

    await writeFile(configFile, natsServerConfig({ ...config, port: server.port, extra: users('second') }));
    server.signal('SIGHUP');
    const refused = async (): Promise<boolean> =>
      connect({ servers: url, user: 'alice', pass: 'first', reconnect: false }).then(
        async (nc) => {
          await nc.close();
          return false;
        },
        (e: unknown) => e instanceof AuthorizationError,
      );
    while (!(await refused())) await new Promise((resolve) => setTimeout(resolve, 50));
    await (await connect({ servers: url, user: 'alice', pass: 'second', reconnect: false })).close();

    await server.stop(5_000);
    expect(server.running).toBe(false);
    expect(() => process.kill(server.pid, 0)).toThrow();
  });
});
