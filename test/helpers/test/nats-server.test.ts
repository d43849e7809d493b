import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { AuthorizationError, ConnectionError, connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';

import { NatsServerError, startNatsServer } from '../src/index.js';
import type { NatsServerErrorCode } from '../src/index.js';

const uid = (): string => randomUUID().replaceAll('-', '').slice(0, 12);

/** One stream with a unique name and subject prefix. */
function uniqueStream(label: string): { name: string; subject: (i: number) => string; filter: string } {
  const id = uid();
  return {
    name: `TEST_${label}_${id}`,
    subject: (i) => `test.${id}.${label.toLowerCase()}.${i}`,
    filter: `test.${id}.>`,
  };
}

/** A connection that fails fast instead of reconnecting; `await using` drains it (nats.js 3.4). */
const open = (servers: string, auth: { user?: string; pass?: string } = {}): Promise<NatsConnection> =>
  connect({ servers, reconnect: false, ...auth });

async function publishAll(
  nc: NatsConnection,
  stream: ReturnType<typeof uniqueStream>,
  payloads: Uint8Array[],
): Promise<void> {
  const js = jetstream(nc);
  for (const [i, data] of payloads.entries()) {
    const ack = await js.publish(stream.subject(i), data, { msgID: `${stream.name}-${i}` });
    expect(ack.stream).toBe(stream.name);
    expect(ack.seq).toBe(i + 1);
    expect(ack.duplicate).toBe(false);
  }
}

/** Reads every message back by sequence (STREAM.MSG.GET) and compares subject, payload and msg id. */
async function expectIntact(
  jsm: JetStreamManager,
  stream: ReturnType<typeof uniqueStream>,
  payloads: Uint8Array[],
): Promise<void> {
  const info = await jsm.streams.info(stream.name);
  expect(info.state.messages).toBe(payloads.length);
  expect(info.state.first_seq).toBe(1);
  expect(info.state.last_seq).toBe(payloads.length);
  for (const [i, data] of payloads.entries()) {
    const stored = await jsm.streams.getMessage(stream.name, { seq: i + 1 });
    expect(stored).not.toBeNull();
    expect(stored?.subject).toBe(stream.subject(i));
    expect(stored?.header.get('Nats-Msg-Id')).toBe(`${stream.name}-${i}`);
    expect(Buffer.from(stored?.data ?? []).equals(Buffer.from(data))).toBe(true);
  }
}

async function expectCode(promise: Promise<unknown>, code: NatsServerErrorCode): Promise<NatsServerError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NatsServerError);
  expect((error as NatsServerError).code).toBe(code);
  return error as NatsServerError;
}

/** Counts `reconnect` status events; `next(n)` resolves once there were at least n. */
function reconnectCounter(nc: NatsConnection): { next(n: number): Promise<void> } {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== 'reconnect') continue;
      count += 1;
      for (const waiter of waiters.filter((w) => w.n <= count)) waiter.resolve();
    }
  })();
  return {
    next: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startNatsServer', () => {
  it('two nats-servers, JetStream publish, kill() + restart() one of them, data read back intact', async () => {
    await using a = await startNatsServer({ serverName: `a_${uid()}` });
    await using b = await startNatsServer({ serverName: `b_${uid()}` });
    expect(a.port).not.toBe(b.port);
    expect(a.storeDir).not.toBe(b.storeDir);

    const n = 50;
    const streamA = uniqueStream('A');
    const streamB = uniqueStream('B');
    // Random payloads of varying length, including zero bytes, so any corruption or truncation shows.
    const payloadsA = Array.from({ length: n }, (_, i) => new Uint8Array(randomBytes(i * 37)));
    const payloadsB = Array.from({ length: n }, (_, i) => new Uint8Array(randomBytes(1 + i)));

    await using ncB = await open(b.url);
    const jsmB = await jetstreamManager(ncB);
    await jsmB.streams.add({ name: streamB.name, subjects: [streamB.filter] });
    await publishAll(ncB, streamB, payloadsB);

    {
      await using ncA = await open(a.url);
      const jsmA = await jetstreamManager(ncA);
      await jsmA.streams.add({ name: streamA.name, subjects: [streamA.filter] });
      await publishAll(ncA, streamA, payloadsA);

      const pidBefore = a.pid;
      await a.kill();
      expect(a.running).toBe(false);
      expect(isAlive(pidBefore)).toBe(false);
      await ncA.closed();
      await expect(connect({ servers: a.url, reconnect: false, timeout: 1_000 })).rejects.toBeInstanceOf(
        ConnectionError,
      );
    }

    await a.restart();
    expect(a.running).toBe(true);
    await using ncA = await open(a.url);
    const jsmA = await jetstreamManager(ncA);
    await expectIntact(jsmA, streamA, payloadsA);

    // The dedupe window was rebuilt from the store: re-sending an old msg id is recognised.
    const again = await jetstream(ncA).publish(streamA.subject(0), payloadsA[0], {
      msgID: `${streamA.name}-0`,
    });
    expect(again.duplicate).toBe(true);
    expect((await jsmA.streams.info(streamA.name)).state.messages).toBe(n);

    // B never went down: same connection, same data, still writable.
    expect(ncB.isClosed()).toBe(false);
    await expectIntact(jsmB, streamB, payloadsB);
    await expect(jsmA.streams.info(streamB.name)).rejects.toThrow();
  });

  it('restart keeps the same port and url', async () => {
    await using server = await startNatsServer();
    const { port, url, storeDir, configFile } = server;
    const firstPid = server.pid;

    // A client that keeps reconnecting comes back once the server is up again on the same port.
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const reconnects = reconnectCounter(nc);
    try {
      await server.kill();
      await server.restart();
      expect(server.pid).not.toBe(firstPid);
      expect(server.port).toBe(port);
      expect(server.url).toBe(url);
      expect(server.url).toBe(`nats://127.0.0.1:${port}`);
      expect(server.storeDir).toBe(storeDir);
      expect(server.configFile).toBe(configFile);
      await reconnects.next(1);
      await nc.flush();
      expect(nc.getServer()).toBe(`127.0.0.1:${port}`);

      // restart() of a running server stops it gracefully first.
      const secondPid = server.pid;
      await server.restart();
      expect(isAlive(secondPid)).toBe(false);
      expect(server.port).toBe(port);
      await reconnects.next(2);
      await nc.flush();
    } finally {
      await nc.close();
    }
  });

  it('refuses a connection without credentials when extra config has an authorization block', async () => {
    await using server = await startNatsServer({
      config: `authorization {
  users = [
    { user: "alice", password: "s3cret" }
  ]
}`,
    });
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toBeInstanceOf(
      AuthorizationError,
    );
    await expect(
      connect({ servers: server.url, reconnect: false, user: 'alice', pass: 'wrong' }),
    ).rejects.toBeInstanceOf(AuthorizationError);

    await using nc = await open(server.url, { user: 'alice', pass: 's3cret' });
    const jsm = await jetstreamManager(nc);
    expect((await jsm.getAccountInfo()).streams).toBe(0);
  });

  it('removes its temp dirs and leaves no process behind when disposed', async () => {
    const server = await startNatsServer();
    const { pid, storeDir, configFile } = server;
    expect(existsSync(storeDir)).toBe(true);
    expect(existsSync(configFile)).toBe(true);
    expect(isAlive(pid)).toBe(true);

    await server[Symbol.asyncDispose]();
    expect(server.running).toBe(false);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(storeDir)).toBe(false);
    expect(existsSync(configFile)).toBe(false);
    await server[Symbol.asyncDispose](); // idempotent
  });

  it('keeps a caller-provided storeDir, so a new server finds the data', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'wbx-nats-caller-'));
    try {
      const stream = uniqueStream('KEEP');
      const payloads = [new TextEncoder().encode('kept across servers')];
      {
        await using first = await startNatsServer({ storeDir });
        expect(first.storeDir).toBe(storeDir);
        await using nc = await open(first.url);
        await (await jetstreamManager(nc)).streams.add({ name: stream.name, subjects: [stream.filter] });
        await publishAll(nc, stream, payloads);
      }
      expect(existsSync(storeDir)).toBe(true);

      await using second = await startNatsServer({ storeDir });
      await using nc = await open(second.url);
      await expectIntact(await jetstreamManager(nc), stream, payloads);
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('rejects with the server complaint when the extra config is invalid', async () => {
    const error = await expectCode(
      startNatsServer({ config: 'this_is_not_an_option: 42\n' }),
      'NATS_START_FAILED',
    );
    expect(error.message).toContain('this_is_not_an_option');

    const syntax = await expectCode(startNatsServer({ config: 'garbage { ][' }), 'NATS_START_FAILED');
    expect(syntax.message).toMatch(/parse error/i);
  });

  it('rejects with NATS_START_TIMEOUT and kills the process when the server never becomes ready', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-nats-fake-'));
    try {
      const binary = join(dir, 'fake-nats-server');
      const pidFile = join(dir, 'pid');
      // Accepts `-c <file>` like nats-server, says something, and then never writes a ports file.
      await writeFile(
        binary,
        `#!/bin/sh\necho $$ > '${pidFile}'\necho 'fake: still starting' >&2\nexec sleep 30\n`,
      );
      await chmod(binary, 0o755);

      const started = Date.now();
      const error = await expectCode(startNatsServer({ binary, startTimeout: 500 }), 'NATS_START_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error.message).toContain('fake: still starting');
      expect(isAlive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects with NATS_BINARY_NOT_FOUND when the binary does not exist', async () => {
    await expectCode(
      startNatsServer({ binary: join(tmpdir(), `no-such-nats-server-${uid()}`) }),
      'NATS_BINARY_NOT_FOUND',
    );
  });
});
