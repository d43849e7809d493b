import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Event, IngestClient, type Receipt, type SubmitResult } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { wbxBinary } from '@wbx/cli';

import { EVENTS_STREAM } from '@wbx/gateway';
import { makeIdentity, type Identity } from '@wbx/test-helpers';
import { alive } from '@wbx/gateway';

const WBX = wbxBinary();

interface ReadyLine {
  ready: boolean;
  partner: string;
  grpc: string;
  http: string;
  nats: string;
}

interface GatewayProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** The parsed ready line; rejects if the process exits first or the deadline passes. */
  ready(ms?: number): Promise<ReadyLine>;
}

const started: GatewayProcess[] = [];

/** Spawns `wbx gateway` (its own process group, so that cleanup can reach the nats-server it starts). */
function spawnGateway(args: readonly string[]): GatewayProcess {
  const child = spawn(process.execPath, [WBX, 'gateway', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, WBX_LOG_LEVEL: 'warn' },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  const gp: GatewayProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async ready(ms = 20_000) {
      const deadline = Date.now() + ms;
      let exitedWith: number | string | undefined;
      void exited.then((c) => (exitedWith = c));
      while (!out.includes('\n')) {
        if (exitedWith !== undefined) throw new Error(`gateway exited (${exitedWith}) before ready: ${err}`);
        if (Date.now() > deadline) throw new Error(`gateway not ready within ${ms} ms: ${err}`);
        await sleep(25);
      }
      return JSON.parse(out.slice(0, out.indexOf('\n'))) as ReadyLine;
    },
  };
  started.push(gp);
  return gp;
}

/** Waits for the process to exit, or fails after `ms`. */
async function exitCode(gp: GatewayProcess, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms; stderr: ${gp.stderr()}`)), ms);
  });
  try {
    return await Promise.race([gp.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let dir: string;
let identity: Identity;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-gwp-'));
  identity = await makeIdentity(dir, ['MK']);
});

afterEach(async () => {
  // Whatever a test left running — the gateway and its nats-server — goes with its process group.
  for (const gp of started.splice(0)) {
    if (gp.child.pid !== undefined && gp.child.exitCode === null && gp.child.signalCode === null) {
      try {
        process.kill(-gp.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await gp.exited;
    }
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const commonArgs = (data: string): string[] => [
  '--partner',
  'MK',
  '--key',
  identity.keyFile('MK'),
  '--manifest',
  identity.manifestFile,
  '--data',
  data,
  '--insecure',
  '--grpc-listen',
  '127.0.0.1:0',
  '--http-listen',
  '127.0.0.1:0',
];

/** Connects to a gateway's embedded NATS, as the gateway does (its nkey, when it keeps NATS access files). */
async function connectEmbedded(url: string, data: string): Promise<NatsConnection> {
  const seedFile = join(data, 'nats-access', 'gateway.nkey');
  const seed = existsSync(seedFile) ? (await readFile(seedFile, 'utf8')).trim() : undefined;
  return connect({
    servers: url,
    ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
  });
}

function submit(client: IngestClient, event: Event): Promise<Receipt> {
  return new Promise<Receipt>((resolve, reject) => {
    client.submit(event, new Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => {
      if (e) reject(e);
      else resolve(r);
    });
  });
}

describe('wbx gateway (process)', () => {
  it('drains a SubmitStream in flight on SIGTERM, exits 0, stops its nats-server, and kept every receipt', async () => {
    const data = join(dir, 'drain');
    const gw = spawnGateway(commonArgs(data));
    const ready = await gw.ready();
    expect(ready).toMatchObject({ ready: true, partner: 'MK' });
    expect(ready.grpc).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ready.http).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ready.nats).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const natsPid = Number((await readFile(join(data, 'nats', 'nats-server.pid'), 'utf8')).trim());
    expect(alive(natsPid)).toBe(true);

    const events = [
      ...generateEvents({
        partner: 'MK',
        count: 2_001,
        seed: 'sigterm',
        from: new Date('2024-04-01T00:00:00Z'),
        to: new Date('2024-04-02T00:00:00Z'),
      }),
    ].map((e) => Event.fromJSON(e));
    const client = new IngestClient(ready.grpc, credentials.createInsecure());
    const receipts: Receipt[] = [];
    let streamError: unknown;
    try {
      receipts.push(await submit(client, events[0]!));

      const call: ClientDuplexStream<Event, SubmitResult> = client.submitStream({
        deadline: Date.now() + 60_000,
      });
      let signalled = false;
      const done = new Promise<void>((resolve) => {
        call.on('data', (r: SubmitResult) => {
          if (r.receipt !== undefined) receipts.push(r.receipt);
          if (!signalled) {
            signalled = true;
            gw.child.kill('SIGTERM');
          }
        });
        call.on('error', (e) => {
          streamError = e;
          resolve();
        });
        call.on('end', () => resolve());
      });
      for (const e of events.slice(1)) {
        if (streamError !== undefined) break;
        if (!call.write(e)) {
          await Promise.race([new Promise<void>((r) => call.once('drain', () => r())), done]);
        }
      }
      call.end();
      await done;
      expect(signalled).toBe(true);
    } finally {
      client.close();
    }

    expect(await exitCode(gw, 30_000)).toBe(0);
    expect(alive(natsPid)).toBe(false);
    // Draining lets the stream in flight finish (within the gateway's 10 s grace, which a loaded machine
    // may exceed: then the stream is cut, and what was answered must still be stored).
    if (streamError === undefined) expect(receipts).toHaveLength(2_001);
    expect(receipts.length).toBeGreaterThan(1);

    // Everything the client got a receipt for is in the store: start the gateway again on the same data.
    const again = spawnGateway(commonArgs(data));
    const ready2 = await again.ready();
    const nc = await connectEmbedded(ready2.nats, data);
    try {
      const jsm = await jetstreamManager(nc);
      const messages = (await jsm.streams.info(EVENTS_STREAM)).state.messages;
      expect(messages).toBeGreaterThanOrEqual(receipts.length);
      expect(messages).toBeLessThanOrEqual(2_001);
      for (const r of receipts) {
        const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: r.seq });
        expect(msg?.header.get('Nats-Msg-Id')).toBe(r.eventId);
      }
    } finally {
      await nc.close();
    }
    again.child.kill('SIGTERM');
    expect(await exitCode(again, 30_000)).toBe(0);
  }, 90_000);

  it('refuses --insecure with --grpc-listen 0.0.0.0:0: exit 2, naming grpc.insecure', async () => {
    const args = commonArgs(join(dir, 'wildcard'));
    args[args.indexOf('--grpc-listen') + 1] = '0.0.0.0:0';
    const gw = spawnGateway(args);
    expect(await exitCode(gw, 15_000)).toBe(2);
    expect(gw.stderr()).toContain('grpc.insecure');
    expect(gw.stdout()).toBe('');
  });

  it('refuses a missing key file: exit 2, naming the setting and the file', async () => {
    const args = commonArgs(join(dir, 'nokey'));
    const missing = join(dir, 'keys', 'absent.private.jwk');
    args[args.indexOf('--key') + 1] = missing;
    const gw = spawnGateway(args);
    expect(await exitCode(gw, 15_000)).toBe(2);
    expect(gw.stderr()).toContain('key:');
    expect(gw.stderr()).toContain(missing);
    expect(gw.stdout()).toBe('');
  });

  // A listener that cannot bind ends the start: everything started before it is stopped again.
  it('exits when its gRPC port is taken, and stops its nats-server', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    try {
      const address = blocker.address() as { port: number };
      const data = join(dir, 'busy');
      const args = commonArgs(data);
      args[args.indexOf('--grpc-listen') + 1] = `127.0.0.1:${address.port}`;
      const gw = spawnGateway(args);
      const code = await exitCode(gw, 5_000);
      expect(code).not.toBe(0);
      const natsPid = Number((await readFile(join(data, 'nats', 'nats-server.pid'), 'utf8')).trim());
      expect(alive(natsPid)).toBe(false);
    } finally {
      blocker.close();
    }
  }, 20_000);
});
