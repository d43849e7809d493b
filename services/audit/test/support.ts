import type { KeyObject } from 'node:crypto';

import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  generateSigningKey,
  importPrivateJwk,
  parseManifestBody,
  type ManifestBody,
  type SigningKey,
} from '@wbx/registry';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach } from 'vitest';

import {
  AuditLog,
  decodeAuditEntry,
  readAudit,
  verifyAuditChain,
  type AuditEntry,
  type AuditLogOptions,
  type AuditMessage,
  type DisclosureRecord,
} from '../src/index.js';

export const KEY_FROM = '2024-01-01T00:00:00Z';

export interface TestKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly signingKey: SigningKey;
}

export function testKey(
  partner = 'MK',
  extra: Partial<SigningKey> = {},
  existingKids: readonly string[] = [],
): TestKey {
  const k = generateSigningKey(partner, new Date(KEY_FROM), existingKids);
  const { kty, crv, x } = k.publicJwk;
  return {
    kid: k.kid,
    privateKey: importPrivateJwk(k.privateJwk).key,
    signingKey: { kid: k.kid, jwk: { kty, crv, x }, notBefore: KEY_FROM, ...extra },
  };
}

/** A manifest body (the verifier needs no signatures) listing these keys for MK, and RS without keys. */
export function manifestWith(...keys: readonly SigningKey[]): ManifestBody {
  const rs = testKey('RS');
  return parseManifestBody({
    version: 1,
    threshold: 1,
    issuedAt: KEY_FROM,
    members: [
      { id: 'MK', name: 'MK', roles: ['origin'], signingKeys: keys, tlsCertSha256: [] },
      { id: 'RS', name: 'RS', roles: ['recipient'], signingKeys: [rs.signingKey], tlsCertSha256: [] },
    ],
  });
}

const RECIPIENTS = ['RS', 'AL', 'FRONTEX'] as const;

/** The i-th of a deterministic series of disclosures. */
export function record(i: number): DisclosureRecord {
  return {
    recipient: RECIPIENTS[i % RECIPIENTS.length] ?? 'RS',
    agreementId: `agr-${i % 2}`,
    eventId: `0190a1b2-0000-7000-8000-${String(i).padStart(12, '0')}`,
    eventType: i % 5 === 0 ? 'asylum.application' : 'crossing.irregular',
    paths: i % 2 === 0 ? ['routeSegment', 'persons.citizenship'] : ['routeSegment'],
    mode: 'records',
    purpose: 'risk-analysis',
  };
}

export interface Nats extends AsyncDisposable {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Another connection to the same server (a second writer). */
  connectAgain(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
}

export async function startNats(): Promise<Nats> {
  const server = await startNatsServer();
  const open = async () => {
    const nc = await connect({ servers: server.url, reconnectTimeWait: 100 });
    return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
  };
  const first = await open();
  const extra: NatsConnection[] = [];
  return {
    server,
    ...first,
    async connectAgain() {
      const c = await open();
      extra.push(c.nc);
      return c;
    },
    async [Symbol.asyncDispose]() {
      for (const nc of [first.nc, ...extra]) await nc.close();
      await server[Symbol.asyncDispose]();
    },
  };
}

export function openLog(
  n: { js: JetStreamClient; jsm: JetStreamManager },
  key: TestKey,
  options: Partial<AuditLogOptions> = {},
): Promise<AuditLog> {
  return AuditLog.open({
    js: n.js,
    jsm: n.jsm,
    origin: 'MK',
    signer: { kid: key.kid, privateKey: key.privateKey },
    checkpointEvery: { entries: 1000, ms: 0 },
    ...options,
  });
}

export async function readAll(jsm: JetStreamManager, origin = 'MK'): Promise<AuditMessage[]> {
  const out: AuditMessage[] = [];
  for await (const m of readAudit(jsm, origin)) out.push(m);
  return out;
}

export const entriesOf = (messages: readonly AuditMessage[]): AuditEntry[] =>
  messages.map((m) => decodeAuditEntry(m.data));

/**
 * What the AuditLog test files share: MK's key, a manifest that trusts it, and a fresh nats-server for
 * each test (`nats()` is the current one; the hooks belong to the calling file); `verify` checks MK's
 * chain as stored.
 */
export function auditTestBed(): {
  key: TestKey;
  manifest: ManifestBody;
  nats: () => Nats;
  verify: (jsm?: JetStreamManager) => ReturnType<typeof verifyAuditChain>;
} {
  const key = testKey();
  const manifest = manifestWith(key.signingKey);
  let current: Nats | undefined;
  beforeEach(async () => {
    current = await startNats();
  });
  afterEach(async () => {
    await current?.[Symbol.asyncDispose]();
    current = undefined;
  });
  const nats = (): Nats => {
    if (current === undefined) throw new Error('no nats-server outside a test');
    return current;
  };
  return {
    key,
    manifest,
    nats,
    verify: async (jsm = nats().jsm) => verifyAuditChain(await readAll(jsm), manifest, 'MK'),
  };
}
