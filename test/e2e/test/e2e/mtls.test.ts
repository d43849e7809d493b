import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Event, IngestClient, type Receipt } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { startNatsServer } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVENTS_STREAM } from '@wbx/gateway';
import { makeTestPki, type CertFiles, type TestPki } from '@wbx/fixtures';
import { startTestGateway, type TestGateway } from '@wbx/fixtures';

const events = [
  ...generateEvents({
    partner: 'MK',
    count: 20,
    seed: 'mtls',
    from: new Date('2024-03-01T00:00:00Z'),
    to: new Date('2024-03-02T00:00:00Z'),
  }),
].map((e) => Event.fromJSON(e));
let next = 0;
const nextEvent = (): Event => events[next++]!;

let pki: TestPki;
let nc: NatsConnection;
let mtls: TestGateway;
let serverAuth: TestGateway;
const cleanup = new AsyncDisposableStack();

beforeAll(async () => {
  pki = cleanup.use(await makeTestPki());
  const nats = cleanup.use(await startNatsServer());
  nc = await connect({ servers: nats.url });
  cleanup.defer(() => nc.close());
  const tls = { 'grpc.tls.cert': pki.server.cert, 'grpc.tls.key': pki.server.key };
  mtls = cleanup.use(
    await startTestGateway({ natsUrl: nats.url, settings: { ...tls, 'grpc.tls.clientCa': pki.caA } }),
  );
  // The same MK as `mtls` (one audit chain on this NATS).
  serverAuth = cleanup.use(
    await startTestGateway({ natsUrl: nats.url, settings: tls, identity: mtls.identity }),
  );
}, 60_000);

afterAll(() => cleanup.disposeAsync());

async function storedCount(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(EVENTS_STREAM)).state.messages;
}

async function tlsCredentials(ca: string, client?: CertFiles): Promise<ChannelCredentials> {
  const caPem = await readFile(ca);
  if (client === undefined) return credentials.createSsl(caPem);
  const { cert, key } = await pki.pem(client);
  return credentials.createSsl(caPem, key, cert);
}

/** One unary Submit on a fresh channel, closed afterwards; the deadline bounds connection retries. */
async function submit(address: string, creds: ChannelCredentials, event: Event): Promise<Receipt> {
  const client = new IngestClient(address, creds);
  try {
    return await new Promise<Receipt>((resolve, reject) => {
      client.submit(event, new Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => {
        if (e) reject(e);
        else resolve(r);
      });
    });
  } finally {
    client.close();
  }
}

/** Submits with `creds`, expects the call to fail before anything is stored, and returns its error. */
async function expectRefused(gateway: TestGateway, creds: ChannelCredentials): Promise<ServiceError> {
  const before = await storedCount();
  const event = nextEvent();
  const error = await submit(gateway.gateway.grpcAddress, creds, event).then(
    (r) => {
      throw new Error(`expected a refusal, got the receipt ${JSON.stringify(r)}`);
    },
    (e: unknown) => e as ServiceError,
  );
  expect(error.code).toBe(status.UNAVAILABLE);
  expect(await storedCount()).toBe(before);
  return error;
}

describe('test PKI', () => {
  it('differs from a good client certificate only in what each refusal test is about', async () => {
    const x509 = async (file: string): Promise<X509Certificate> => new X509Certificate(await readFile(file));
    const [a, b, server, client, expired, foreign] = await Promise.all(
      [
        pki.caA,
        pki.caB,
        pki.server.cert,
        pki.client.cert,
        pki.expiredClient.cert,
        pki.foreignClient.cert,
      ].map(x509),
    );
    const now = Date.now();
    const validNow = (c: X509Certificate): boolean =>
      c.validFromDate.getTime() <= now && now < c.validToDate.getTime();
    expect(server!.verify(a!.publicKey) && server!.checkIP('127.0.0.1') !== undefined).toBe(true);
    expect(server!.checkHost('localhost')).toBe('localhost');
    expect(client!.verify(a!.publicKey) && validNow(client!)).toBe(true);
    expect(expired!.verify(a!.publicKey)).toBe(true);
    expect(validNow(expired!)).toBe(false);
    expect(expired!.validToDate.getTime()).toBeLessThan(now);
    expect(foreign!.verify(a!.publicKey)).toBe(false);
    expect(foreign!.verify(b!.publicKey) && validNow(foreign!)).toBe(true);
    for (const c of [client!, expired!, foreign!]) expect(c.subject).toBe('CN=RS');
  });
});

describe('gateway gRPC with mTLS (grpc.tls.clientCa)', () => {
  it('accepts a client whose certificate CA A signed and stores its event', async () => {
    const before = await storedCount();
    const event = nextEvent();
    const r = await submit(mtls.gateway.grpcAddress, await tlsCredentials(pki.caA, pki.client), event);
    expect(r).toMatchObject({ eventId: event.eventId, duplicate: false });
    expect(await storedCount()).toBe(before + 1);
  });

  it('refuses a client that presents no certificate', async () => {
    await expectRefused(mtls, await tlsCredentials(pki.caA));
  });

  it('refuses a client certificate signed by another CA', async () => {
    await expectRefused(mtls, await tlsCredentials(pki.caA, pki.foreignClient));
  });

  it('refuses an expired client certificate signed by CA A', async () => {
    await expectRefused(mtls, await tlsCredentials(pki.caA, pki.expiredClient));
  });

  it('refuses a plaintext client', async () => {
    await expectRefused(mtls, credentials.createInsecure());
  });
});

describe('gateway gRPC with server-only TLS', () => {
  it('accepts a client that trusts CA A, without a client certificate', async () => {
    const before = await storedCount();
    const event = nextEvent();
    const r = await submit(serverAuth.gateway.grpcAddress, await tlsCredentials(pki.caA), event);
    expect(r).toMatchObject({ eventId: event.eventId, duplicate: false });
    expect(await storedCount()).toBe(before + 1);
  });

  it('fails for a client that does not trust CA A', async () => {
    await expectRefused(serverAuth, await tlsCredentials(pki.caB));
  });

  it('fails for a plaintext client', async () => {
    await expectRefused(serverAuth, credentials.createInsecure());
  });
});
