import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';

import { credentials } from '@grpc/grpc-js';
import { Event, IngestClient, type Receipt } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '@wbx/gateway';
import { certSha256, makeTestPki, type CertFiles, type TestPki } from '@wbx/fixtures';
import { exchangeClients, query } from '../support/exchange-client.js';
import { startFederation, type Federation } from '@wbx/fixtures';
import { startTestGateway } from '@wbx/fixtures';

const HOUR = 3_600_000;
const PER_ADDRESS = 50;
const TOTAL = 100;
const FLOOD = 300;

/** Raw TCP connections that never send a byte (no TLS handshake, no HTTP request). */
interface Flood {
  readonly sockets: readonly Socket[];
  /** How many the other side has closed so far. */
  closed(): number;
  /** Resolves once `n` of them are closed. */
  untilClosed(n: number): Promise<void>;
  destroy(): void;
}

async function flood(address: string, from: string, count: number): Promise<Flood> {
  const cut = address.lastIndexOf(':');
  const host = address.slice(0, cut);
  const port = Number(address.slice(cut + 1));
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve) => {
          const socket = connect({ host, port, localAddress: from });
          socket.on('error', () => undefined);
          // Whatever the gateway sends (HTTP/2 SETTINGS, GOAWAY) is read and dropped, so that its close is seen.
          socket.resume();
          socket.once('connect', () => resolve(socket));
          socket.once('close', () => {
            closed += 1;
            resolve(socket);
            for (const w of waiters.filter((x) => closed >= x.n)) w.resolve();
          });
        }),
    ),
  );
  return {
    sockets,
    closed: () => closed,
    untilClosed: (n) =>
      closed >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    destroy: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** The gateway's Prometheus metrics, scraped over its (flooded) HTTP listener. */
async function metrics(g: Gateway): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${g.httpAddress}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(wbx_connections_\w+\{[^}]*\}) (\d+)$/.exec(line);
    if (m?.[1] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}

const refused = (listener: string, reason: string): string =>
  `wbx_connections_refused_total{listener="${listener}",reason="${reason}"}`;
const open = (listener: string): string => `wbx_connections_open{listener="${listener}"}`;

let pki: TestPki;
let fed: Federation;
let mk: Gateway;
const certs: Record<string, CertFiles> = {};

function submit(client: IngestClient, event: Event): Promise<Receipt> {
  return new Promise((resolve, reject) => client.submit(event, (e, r) => (e ? reject(e) : resolve(r))));
}

const events = (seed: string, count: number): Event[] =>
  [
    ...generateEvents({
      partner: 'MK',
      count,
      seed,
      from: new Date('2024-05-01'),
      to: new Date('2024-05-02'),
    }),
  ].map((e) => Event.fromJSON(e));

/** Crossings MK holds: what RS's Query returns. */
let crossings = 0;

async function ingestClient(): Promise<IngestClient> {
  return new IngestClient(mk.grpcAddress, credentials.createSsl(await readFile(pki.caA)));
}

async function queryAsRs(): Promise<number> {
  const clients = await exchangeClients(pki, mk.exchangeAddress ?? '', certs.RS as CertFiles);
  try {
    const { events: got, end } = await query(clients.exchange, {
      agreementId: 'MK-RS-LIMITS',
      purpose: 'risk-analysis',
    });
    expect(got.length).toBe(end.returned);
    return end.returned;
  } finally {
    clients.close();
  }
}

const tlsSettings = (): Record<string, unknown> => ({
  'grpc.insecure': false,
  'grpc.tls.cert': pki.server.cert,
  'grpc.tls.key': pki.server.key,
  'exchange.listen': '127.0.0.1:0',
  'exchange.tls.cert': pki.server.cert,
  'exchange.tls.key': pki.server.key,
  'exchange.tls.clientCa': pki.caA,
});

beforeAll(async () => {
  pki = await makeTestPki();
  for (const p of ['MK', 'RS']) certs[p] = await pki.issueClient(p);
  const pins: Record<string, string[]> = {};
  for (const p of ['MK', 'RS']) pins[p] = [await certSha256((certs[p] as CertFiles).cert)];
  fed = await startFederation(['MK', 'RS'], pins);
  await fed.agree({
    id: 'MK-RS-LIMITS',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['risk-analysis'],
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 30 * 24 * HOUR).toISOString(),
    terms: [{ mode: 'records', retentionDays: 30, types: ['crossing.irregular'], fields: ['routeSegment'] }],
  });
  // A long handshake timeout: the flood stays connected for the whole of each test.
  mk = await fed.start('MK', {
    settings: {
      ...tlsSettings(),
      'limits.perAddress': PER_ADDRESS,
      'limits.total': TOTAL,
      'limits.handshakeTimeout': '10m',
    },
  });
  const ingest = await ingestClient();
  try {
    const all = events('limits-before', 40);
    for (const e of all) await submit(ingest, e);
    crossings = all.filter((e) => e.crossingIrregular !== undefined).length;
  } finally {
    ingest.close();
  }
  expect(crossings).toBeGreaterThan(0);
}, 90_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
  await pki[Symbol.asyncDispose]();
});

describe('connection caps', () => {
  it('closes idle connections over the per-address cap at once, and keeps serving a partner during the flood', async () => {
    const listeners = { ingest: mk.grpcAddress, exchange: mk.exchangeAddress ?? '', http: mk.httpAddress };
    const floods = new Map<string, Flood>();
    try {
      for (const [name, address] of Object.entries(listeners)) {
        const f = await flood(address, '127.0.0.2', FLOOD);
        floods.set(name, f);
        // The cap closes all but PER_ADDRESS of them, before any byte is read.
        await f.untilClosed(FLOOD - PER_ADDRESS);
        expect(f.closed()).toBe(FLOOD - PER_ADDRESS);
      }
      // A partner on another address, on new connections: Query over mTLS, Submit over TLS, metrics.
      expect(await queryAsRs()).toBe(crossings);
      const ingest = await ingestClient();
      try {
        const [event] = events('limits-during', 1);
        expect((await submit(ingest, event as Event)).duplicate).toBe(false);
      } finally {
        ingest.close();
      }
      const m = await metrics(mk);
      for (const name of Object.keys(listeners)) {
        expect(m.get(refused(name, 'per_address'))).toBe(FLOOD - PER_ADDRESS);
        expect(m.get(open(name))).toBeGreaterThanOrEqual(PER_ADDRESS);
        // The flood is still there: the partner was served during it, not after it.
        expect((floods.get(name) as Flood).closed()).toBe(FLOOD - PER_ADDRESS);
      }
    } finally {
      for (const f of floods.values()) f.destroy();
    }
  }, 120_000);

  it('closes connections over the total cap at once, and serves again once the flood is gone', async () => {
    const address = mk.exchangeAddress ?? '';
    const before = (await metrics(mk)).get(refused('exchange', 'total')) ?? 0;
    const floods: Flood[] = [];
    try {
      // Three addresses, each within its own cap: together over the total.
      for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) {
        floods.push(await flood(address, from, PER_ADDRESS));
      }
      const closed = (): number => floods.reduce((n, f) => n + f.closed(), 0);
      // Once every attempt is handled: the listener holds exactly TOTAL, and each connection the
      // gateway closed was refused over the total cap.
      const state = async (): Promise<[number, number, number]> => {
        const m = await metrics(mk);
        return [m.get(open('exchange')) ?? 0, (m.get(refused('exchange', 'total')) ?? 0) - before, closed()];
      };
      await expect
        .poll(
          async () => {
            const [held, r, c] = await state();
            return held === TOTAL && r === c && c > 0;
          },
          { timeout: 30_000 },
        )
        .toBe(true);
      expect(closed()).toBeGreaterThanOrEqual(3 * PER_ADDRESS - TOTAL);
    } finally {
      for (const f of floods) f.destroy();
    }
    await expect
      .poll(async () => (await metrics(mk)).get(open('exchange')) ?? 0, { timeout: 30_000 })
      .toBeLessThan(TOTAL);
    // A new connection is accepted again.
    expect(await queryAsRs()).toBe(crossings);
  }, 120_000);
});

describe('handshake and idle timeouts', () => {
  it('closes connections that never complete a TLS handshake or send a request', async () => {
    await using g = await startTestGateway({
      settings: { ...tlsSettings(), 'limits.handshakeTimeout': '300ms' },
    });
    const listeners = [g.gateway.grpcAddress, g.gateway.exchangeAddress ?? '', g.gateway.httpAddress];
    const floods = await Promise.all(listeners.map((a) => flood(a, '127.0.0.6', 5)));
    try {
      // No timing asserted: each silent connection is closed by the gateway, not by the client.
      await Promise.all(floods.map((f) => f.untilClosed(5)));
      for (const f of floods) expect(f.closed()).toBe(5);
    } finally {
      for (const f of floods) f.destroy();
    }
  }, 60_000);

  it('closes a silent connection to a plaintext (loopback) Ingest after the idle timeout', async () => {
    await using g = await startTestGateway({ settings: { 'limits.idleTimeout': '300ms' } });
    const f = await flood(g.gateway.grpcAddress, '127.0.0.6', 5);
    try {
      await f.untilClosed(5);
      expect(f.closed()).toBe(5);
    } finally {
      f.destroy();
    }
  }, 60_000);
});
