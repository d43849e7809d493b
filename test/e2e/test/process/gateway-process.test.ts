import { existsSync } from 'node:fs';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  credentials,
  loadPackageDefinition,
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { wbxBinary } from '@wbx/cli';
import { alive, EVENTS_STREAM } from '@wbx/gateway';
import { Event, IngestClient, type Receipt, type SubmitResult } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { gatewayReady, makeIdentity, spawnNode, type Child, type Identity } from '@wbx/test-helpers';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const WBX = wbxBinary();

const started: Child[] = [];

/** `wbx gateway` in its own process group, so that cleanup reaches the nats-server it starts. */
function spawnGateway(args: readonly string[]): Child {
  const child = spawnNode([WBX, 'gateway', ...args], { env: { WBX_LOG_LEVEL: 'warn' }, group: true });
  started.push(child);
  return child;
}

let dir: string;
let identity: Identity;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-gwp-'));
  identity = await makeIdentity(dir, ['MK']);
});

afterEach(async () => {
  // Whatever a test left running — the gateway and its nats-server — goes with its process group.
  for (const child of started.splice(0)) await child.stop(0);
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

type HealthClient = Client & {
  watch(request: { service: string }): ClientReadableStream<{ status: string }>;
};

/** grpc.health.v1.Health.Watch on the server's overall status: yields each status the gateway sets. */
function watchHealth(address: string): { until(wanted: string): Promise<void>; close(): void } {
  const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
    grpc: {
      health: { v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } };
    };
  };
  const client = new pkg.grpc.health.v1.Health(address, credentials.createInsecure()) as HealthClient;
  const call = client.watch({ service: '' });
  const seen: string[] = [];
  const waiting = new Set<() => void>();
  let failed: ServiceError | undefined;
  call.on('data', (r: { status: string }) => {
    seen.push(r.status);
    for (const w of waiting) w();
  });
  call.on('error', (e: ServiceError) => {
    failed = e;
    for (const w of waiting) w();
  });
  return {
    until: (wanted) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (seen.includes(wanted)) resolve();
          else if (failed !== undefined) reject(failed);
          else return;
          waiting.delete(check);
        };
        waiting.add(check);
        check();
      }),
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

/** A SubmitStream held open until `end()`: every result the gateway sends, and how the call ended. */
function openSubmitStream(client: IngestClient): {
  readonly results: SubmitResult[];
  /** Resolves once the gateway answered `n` events. */
  answered(n: number): Promise<void>;
  write(events: readonly Event[]): Promise<void>;
  end(): void;
  readonly finished: Promise<StatusObject>;
} {
  const call: ClientDuplexStream<Event, SubmitResult> = client.submitStream({
    deadline: Date.now() + 60_000,
  });
  const results: SubmitResult[] = [];
  const waiting = new Set<() => void>();
  call.on('data', (r: SubmitResult) => {
    results.push(r);
    for (const w of waiting) w();
  });
  const finished = new Promise<StatusObject>((resolve) => {
    call.on('status', resolve);
    // The status follows an error too; handled here so that it is not thrown.
    call.on('error', () => undefined);
  });
  return {
    results,
    answered: (n) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (results.length >= n) resolve();
          else return;
          waiting.delete(check);
        };
        waiting.add(check);
        check();
        finished.then(() => reject(new Error(`the stream ended after ${results.length} results`)), reject);
      }),
    async write(events) {
      for (const e of events) {
        if (!call.write(e)) await new Promise<void>((resolve) => call.once('drain', () => resolve()));
      }
    },
    end: () => call.end(),
    finished,
  };
}

describe('wbx gateway (process)', () => {
  // The stream is held open across SIGTERM; events follow once the gateway says it is stopping (health
  // NOT_SERVING), so that the drain, not the client's timing, decides what happens to them.
  it('drains a SubmitStream open at SIGTERM: every event stored once, with its receipt; exit 0', async () => {
    const data = join(dir, 'drain');
    const gw = spawnGateway(commonArgs(data));
    const ready = await gatewayReady(gw);
    expect(ready).toMatchObject({ ready: true, partner: 'MK' });
    expect(ready.grpc).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ready.http).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ready.nats).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const natsPid = Number((await readFile(join(data, 'nats', 'nats-server.pid'), 'utf8')).trim());
    expect(alive(natsPid)).toBe(true);

    const events = [
      ...generateEvents({
        partner: 'MK',
        count: 400,
        seed: 'sigterm',
        from: new Date('2024-04-01T00:00:00Z'),
        to: new Date('2024-04-02T00:00:00Z'),
      }),
    ].map((e) => Event.fromJSON(e));
    const beforeStop = events.slice(0, 200);
    const duringStop = events.slice(200);

    const health = watchHealth(ready.grpc);
    const client = new IngestClient(ready.grpc, credentials.createInsecure());
    let finished: StatusObject;
    let results: SubmitResult[];
    let refused: unknown;
    try {
      await health.until('SERVING');
      const stream = openSubmitStream(client);
      results = stream.results;
      await stream.write(beforeStop);
      // The gateway is working on the stream (one answer back, the rest in flight) when SIGTERM arrives.
      await stream.answered(1);
      gw.process.kill('SIGTERM');
      // The gateway began to stop: it takes no new call from here on, and drains the ones in flight.
      await health.until('NOT_SERVING');
      const late = new IngestClient(ready.grpc, credentials.createInsecure());
      refused = await submit(late, events[0]!).then(
        () => 'accepted',
        (e: unknown) => e,
      );
      late.close();
      await stream.write(duringStop);
      stream.end();
      finished = await stream.finished;
    } finally {
      health.close();
      client.close();
    }
    expect(refused).toMatchObject({ code: status.UNAVAILABLE });
    expect(finished).toMatchObject({ code: status.OK });
    // One result per event sent, in order, each a receipt: nothing was cut or lost in the drain.
    expect(results.map((r) => r.index)).toEqual(events.map((_, i) => i));
    expect(results.map((r) => r.eventId)).toEqual(events.map((e) => e.eventId));
    expect(results.filter((r) => r.receipt === undefined)).toEqual([]);
    const receipts = results.map((r) => r.receipt!);
    expect(new Set(receipts.map((r) => r.seq)).size).toBe(events.length);

    expect(await gw.exit(30_000)).toBe(0);
    expect(alive(natsPid)).toBe(false);

    // Started again on the same data: exactly the events sent are stored, each once, where its receipt says.
    const again = spawnGateway(commonArgs(data));
    const ready2 = await gatewayReady(again);
    const nc = await connectEmbedded(ready2.nats, data);
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(events.length);
      for (const r of receipts) {
        const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: r.seq });
        expect(msg?.header.get('Nats-Msg-Id')).toBe(r.eventId);
      }
    } finally {
      await nc.close();
    }
    again.process.kill('SIGTERM');
    expect(await again.exit(30_000)).toBe(0);
  }, 90_000);

  it('refuses --insecure with --grpc-listen 0.0.0.0:0: exit 2, naming grpc.insecure', async () => {
    const args = commonArgs(join(dir, 'wildcard'));
    args[args.indexOf('--grpc-listen') + 1] = '0.0.0.0:0';
    const gw = spawnGateway(args);
    expect(await gw.exit(15_000)).toBe(2);
    expect(gw.stderr()).toContain('grpc.insecure');
    expect(gw.stdout()).toBe('');
  });

  it('refuses a missing key file: exit 2, naming the setting and the file', async () => {
    const args = commonArgs(join(dir, 'nokey'));
    const missing = join(dir, 'keys', 'absent.private.jwk');
    args[args.indexOf('--key') + 1] = missing;
    const gw = spawnGateway(args);
    expect(await gw.exit(15_000)).toBe(2);
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
      const code = await gw.exit(5_000);
      expect(code).not.toBe(0);
      const natsPid = Number((await readFile(join(data, 'nats', 'nats-server.pid'), 'utf8')).trim());
      expect(alive(natsPid)).toBe(false);
    } finally {
      blocker.close();
    }
  }, 20_000);
});
