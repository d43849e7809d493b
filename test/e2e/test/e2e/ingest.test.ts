import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  credentials,
  loadPackageDefinition,
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Event, IngestClient, type Receipt, type SubmitResult } from '@wbx/proto';
import { verifyPresentation } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

import { statusDetails } from '@wbx/gateway';
import { EVENTS_STREAM } from '@wbx/gateway';
import { startTestGateway, type TestGateway } from '@wbx/fixtures';

const FROM = new Date('2024-03-01T00:00:00Z');
const TO = new Date('2024-03-02T00:00:00Z');

function events(partner: string, count: number, seed: string): Event[] {
  return [...generateEvents({ partner, count, seed, from: FROM, to: TO })].map((e) => Event.fromJSON(e));
}

/** Polls `condition` until it holds or the deadline passes; returns the last value. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

function submit(client: IngestClient, event: Event, ms = 10_000): Promise<Receipt> {
  return new Promise<Receipt>((resolve, reject) => {
    client.submit(event, new Metadata(), { deadline: Date.now() + ms }, (e, r) => {
      if (e) reject(e);
      else resolve(r);
    });
  });
}

async function submitError(client: IngestClient, event: Event, ms = 10_000): Promise<ServiceError> {
  try {
    await submit(client, event, ms);
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error('Submit succeeded; expected it to fail');
}

/** Sends all events over one SubmitStream (respecting 'drain') and collects every result. */
async function submitAll(client: IngestClient, list: readonly Event[]): Promise<SubmitResult[]> {
  const call: ClientDuplexStream<Event, SubmitResult> = client.submitStream({
    deadline: Date.now() + 60_000,
  });
  const results: SubmitResult[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (r: SubmitResult) => results.push(r));
    call.on('error', reject);
    call.on('end', () => resolve());
  });
  done.catch(() => undefined);
  for (const e of list) {
    if (!call.write(e)) await new Promise<void>((resolve) => call.once('drain', () => resolve()));
  }
  call.end();
  await done;
  return results;
}

async function httpGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${base}${path}`);
  return { status: res.status, body: await res.text() };
}

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let gw: TestGateway;
let client: IngestClient;
const pool = events('MK', 200, 'ingest-test');
let next = 0;
const fresh = (): Event => {
  const e = pool[next++];
  if (e === undefined) throw new Error('event pool exhausted');
  return e;
};

async function stored(): Promise<number> {
  return (await jsm.streams.info(EVENTS_STREAM)).state.messages;
}

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  gw = await startTestGateway({ natsUrl: nats.url, settings: { 'nats.publishTimeout': 1000 } });
  client = new IngestClient(gw.gateway.grpcAddress, credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  client.close();
  await gw[Symbol.asyncDispose]();
  await nc.close();
  await nats[Symbol.asyncDispose]();
});

describe('Ingest.Submit', () => {
  it('stores an accepted event sealed in WBX_EVENTS under its subject and msg id, and returns its seq', async () => {
    const event = fresh();
    const receipt = await submit(client, event);
    expect(receipt).toMatchObject({ eventId: event.eventId, duplicate: false });
    expect(receipt.seq).toBeGreaterThan(0);

    const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: receipt.seq });
    expect(msg).not.toBeNull();
    expect(msg!.subject).toBe(`wbx.evt.MK.${event.type}`);
    expect(msg!.header.get('Nats-Msg-Id')).toBe(event.eventId);
    const verified = verifyPresentation(msg!.string(), { manifest: gw.gateway.manifest });
    expect(verified.claims).toMatchObject({ iss: 'MK', jti: event.eventId, wbx_type: event.type });
  });

  it('answers a re-submitted event with the same seq and duplicate true, and stores nothing', async () => {
    const event = fresh();
    const first = await submit(client, event);
    const before = await stored();
    const again = await submit(client, event);
    expect(again).toEqual({ eventId: event.eventId, seq: first.seq, duplicate: true });
    expect(await stored()).toBe(before);
  });

  it('refuses an invalid event with INVALID_ARGUMENT, ErrorInfo INVALID_EVENT and BadRequest violations', async () => {
    const event = fresh();
    const bad = Event.fromJSON({
      ...(Event.toJSON(event) as object),
      schemaVersion: 9,
      occurredAt: '2099-01-01T00:00:00Z',
    });
    const before = await stored();
    const e = await submitError(client, bad);
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    const details = statusDetails(e);
    expect(details.reason).toBe('INVALID_EVENT');
    expect(details.violations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'schemaVersion', reason: 'UNSUPPORTED_SCHEMA_VERSION' }),
        expect.objectContaining({ field: 'occurredAt', reason: 'DATE_IN_FUTURE' }),
      ]),
    );
    expect(await stored()).toBe(before);
    // Nothing of it was stored under its id either: the valid original is accepted as new.
    expect((await submit(client, event)).duplicate).toBe(false);
  });

  it('refuses an event of another origin with FOREIGN_ORIGIN at path origin', async () => {
    const [foreign] = events('RS', 1, 'foreign');
    const before = await stored();
    const e = await submitError(client, foreign!);
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(statusDetails(e)).toEqual({
      reason: 'INVALID_EVENT',
      violations: [expect.objectContaining({ field: 'origin', reason: 'FOREIGN_ORIGIN' })],
    });
    expect(await stored()).toBe(before);
  });
});

describe('Ingest.SubmitStream', () => {
  it('answers a mixed stream with one result per event, in order, and goes on past the bad one', async () => {
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const invalid = Event.fromJSON({ ...(Event.toJSON(b) as object), origin: 'XX' });
    const results = await submitAll(client, [a, invalid, a, c]);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(results.map((r) => r.eventId)).toEqual([a.eventId, b.eventId, a.eventId, c.eventId]);
    const [r0, r1, r2, r3] = results;
    expect(r0!.receipt).toMatchObject({ duplicate: false });
    expect(r1!.receipt).toBeUndefined();
    expect(r1!.rejection).toMatchObject({
      code: 'INVALID_EVENT',
      violations: [expect.objectContaining({ path: 'origin', code: 'UNKNOWN_PARTNER' })],
    });
    expect(r2!.receipt).toEqual({ eventId: a.eventId, seq: r0!.receipt!.seq, duplicate: true });
    expect(r3!.receipt).toMatchObject({ duplicate: false });
    expect(r3!.receipt!.seq).toBeGreaterThan(r0!.receipt!.seq);
  });

  it('accepts 5,000 events over one stream, each with its own seq', async () => {
    const list = events('MK', 5_000, 'stream-5000');
    const before = await stored();
    const results = await submitAll(client, list);
    expect(results).toHaveLength(5_000);
    expect(results.every((r, i) => r.index === i && r.eventId === list[i]!.eventId)).toBe(true);
    expect(results.filter((r) => r.receipt?.duplicate === false)).toHaveLength(5_000);
    expect(new Set(results.map((r) => r.receipt!.seq)).size).toBe(5_000);
    expect(await stored()).toBe(before + 5_000);
  }, 60_000);
});

describe('gateway services', () => {
  it('answers grpc.health.v1 Check with SERVING, for the server and for wbx.v1.Ingest', async () => {
    const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: {
        health: {
          v1: {
            Health: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client;
          };
        };
      };
    };
    const health = new pkg.grpc.health.v1.Health(
      gw.gateway.grpcAddress,
      credentials.createInsecure(),
    ) as Client & {
      check(req: { service: string }, cb: (e: ServiceError | null, r: { status: string }) => void): void;
    };
    try {
      for (const service of ['', 'wbx.v1.Ingest']) {
        const r = await new Promise<{ status: string }>((resolve, reject) => {
          health.check({ service }, (e, res) => (e ? reject(e) : resolve(res)));
        });
        expect(r.status).toBe('SERVING');
      }
    } finally {
      health.close();
    }
  });

  it('lists wbx.v1.Ingest and the health service through server reflection (v1)', async () => {
    const reflectionDir = join(
      dirname(createRequire(import.meta.url).resolve('@grpc/reflection')),
      '..',
      'proto',
    );
    const pkg = loadPackageDefinition(
      loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionDir] }),
    ) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client;
          };
        };
      };
    };
    const reflection = new pkg.grpc.reflection.v1.ServerReflection(
      gw.gateway.grpcAddress,
      credentials.createInsecure(),
    ) as Client & {
      serverReflectionInfo(): ClientDuplexStream<
        { listServices: string },
        { listServicesResponse?: { service: { name: string }[] } }
      >;
    };
    try {
      const call = reflection.serverReflectionInfo();
      const response = await new Promise<{ listServicesResponse?: { service: { name: string }[] } }>(
        (resolve, reject) => {
          call.once('data', resolve);
          call.once('error', reject);
          call.write({ listServices: '' });
        },
      );
      call.end();
      const names = response.listServicesResponse?.service.map((s) => s.name);
      expect(names).toContain('wbx.v1.Ingest');
      expect(names).toContain('grpc.health.v1.Health');
    } finally {
      reflection.close();
    }
  });

  it('serves /healthz, /readyz and /metrics with submissions, rejections by code and publish latency', async () => {
    const base = gw.gateway.httpAddress;
    expect(await httpGet(base, '/healthz')).toMatchObject({ status: 200 });
    const ready = await httpGet(base, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ ready: true });

    const crossing = events('MK', 50, 'metrics').find((e) => (e.crossingIrregular?.persons.length ?? 0) > 0);
    const unknownCountry = Event.fromJSON(Event.toJSON(crossing!));
    unknownCountry.crossingIrregular!.persons[0]!.citizenship = 'ZZZ';
    const e = await submitError(client, unknownCountry);
    expect(statusDetails(e).violations.map((v) => v.reason)).toContain('UNKNOWN_COUNTRY');

    const metrics = await httpGet(base, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^wbx_ingest_submitted_total \d+/m);
    expect(metrics.body).toMatch(/^wbx_ingest_rejected_total\{code="UNKNOWN_COUNTRY"\} [1-9]\d*/m);
    expect(metrics.body).toMatch(/^wbx_publish_latency_seconds_bucket\{le="[^"]+"\} \d+/m);
    expect(metrics.body).toMatch(/^wbx_publish_latency_seconds_count [1-9]\d*/m);
  });
});

describe('gateway without NATS', () => {
  it('fails Submit with UNAVAILABLE within the publish timeout, is not ready, and recovers by itself', async () => {
    // A NATS and a gateway of its own: it takes NATS away and brings it back.
    await using nats = await startNatsServer();
    await using gw = await startTestGateway({ natsUrl: nats.url, settings: { 'nats.publishTimeout': 1000 } });
    const client = new IngestClient(gw.gateway.grpcAddress, credentials.createInsecure());
    onTestFinished(() => client.close());
    await nats.kill();
    const base = gw.gateway.httpAddress;
    await waitFor(
      '/readyz 503',
      () => httpGet(base, '/readyz'),
      (r) => r.status === 503,
    );

    const event = events('MK', 1, 'without-nats')[0]!;
    const started = performance.now();
    const e = await submitError(client, event);
    const elapsed = performance.now() - started;
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(statusDetails(e).reason).toBe('UNAVAILABLE');
    // publishTimeout is 1 s; allow one last publish attempt (≥ 500 ms) and scheduling.
    expect(elapsed).toBeLessThan(3_000);

    await nats.restart();
    await waitFor(
      '/readyz 200',
      () => httpGet(base, '/readyz'),
      (r) => r.status === 200,
      20_000,
    );
    const receipt = await submit(client, event);
    expect(receipt).toMatchObject({ eventId: event.eventId, duplicate: false });
    // A connection of its own: the suite's may still be waiting to reconnect.
    const check = await connect({ servers: nats.url });
    try {
      const msg = await (
        await jetstreamManager(check)
      ).streams.getMessage(EVENTS_STREAM, { seq: receipt.seq });
      expect(msg?.header.get('Nats-Msg-Id')).toBe(event.eventId);
    } finally {
      await check.close();
    }
  }, 60_000);
});
