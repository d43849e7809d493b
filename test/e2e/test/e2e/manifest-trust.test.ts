import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import {
  addMember,
  decodeManifest,
  foundFederation,
  generateSigningKey,
  signManifest,
  verifyRootManifest,
  type GeneratedSigningKey,
  type Member,
  type SignedManifest,
} from '@wbx/registry';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, loadGatewayConfig } from '@wbx/gateway';
import { Gateway } from '@wbx/gateway';
import { trustedManifestPath } from '@wbx/gateway';

const HOUR = 3_600_000;

let dir: string;
let mkKey: GeneratedSigningKey;
let v1: SignedManifest;
/** Version 2 adding XK, signed by MK (threshold 1 of version 1): a valid successor. */
let v2: SignedManifest;
/** Version 2 in which XK added itself: signed by XK alone, so by no member of version 1. */
let v2SelfAdded: SignedManifest;
/** Another valid version 2 (XK under another name), signed by MK: a fork of the trusted version 2. */
let v2Fork: SignedManifest;
/** Version 4 after a version 3, both valid successors, to start a gateway that trusts version 2 with. */
let v4: SignedManifest;

/** Keys of every member are valid from this time on. */
let since: Date;

function member(key: GeneratedSigningKey, id: string, name = id): Member {
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x } as const;
  return {
    id,
    name,
    roles: ['origin', 'recipient'],
    signingKeys: [{ kid: key.kid, jwk, notBefore: since.toISOString() }],
    tlsCertSha256: [],
  };
}

async function file(name: string, signed: SignedManifest): Promise<string> {
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify(signed, null, 2));
  return path;
}

/** Starts MK's gateway with `manifest` on the data directory `data`; the log lines land in `logs`. */
async function start(manifest: string, data: string, logs: string[] = []): Promise<Gateway> {
  const config = await loadGatewayConfig(
    undefined,
    {},
    {
      partner: 'MK',
      key: join(dir, 'MK.private.jwk'),
      manifest,
      data,
      'grpc.listen': '127.0.0.1:0',
      'grpc.insecure': true,
      'http.listen': '127.0.0.1:0',
    },
  );
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  return Gateway.start(config, { log: pino({ level: 'info' }, sink), drainMs: 1_000 });
}

/** Starting must fail with a ConfigError of `code` naming the setting `manifest`, and log it. */
async function refused(manifest: string, data: string, code: string): Promise<ConfigError> {
  const logs: string[] = [];
  const e = await start(manifest, data, logs).then(
    async (g) => {
      await g.stop();
      throw new Error(`the gateway started with ${manifest}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConfigError);
  const error = e as ConfigError;
  expect(error.code).toBe(code);
  expect(error.issues.map((i) => i.path)).toEqual(['manifest']);
  const logged = logs.map((l) => JSON.parse(l) as { level: number; code?: string; setting?: string });
  expect(logged.some((l) => l.level >= 50 && l.code === code && l.setting === 'manifest')).toBe(true);
  return error;
}

async function trustedVersion(data: string): Promise<number> {
  const text = await readFile(trustedManifestPath(data), 'utf8');
  return decodeManifest(JSON.parse(text) as SignedManifest).version;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-trust-'));
  since = new Date(Date.now() - 2 * HOUR);
  const founded = await foundFederation([{ id: 'MK' }, { id: 'RS' }], 1, since);
  mkKey = founded.keys.get('MK') as GeneratedSigningKey;
  await writeFile(join(dir, 'MK.private.jwk'), JSON.stringify(mkKey.privateJwk), { mode: 0o600 });
  v1 = founded.manifest;
  const body1 = verifyRootManifest(v1);
  const xk = generateSigningKey('XK', since);
  const at = (minutes: number): string => new Date(since.getTime() + minutes * 60_000).toISOString();
  v2 = await signManifest(addMember(body1, member(xk, 'XK'), at(10)), mkKey.privateJwk, mkKey.kid);
  v2SelfAdded = await signManifest(addMember(body1, member(xk, 'XK'), at(10)), xk.privateJwk, xk.kid);
  v2Fork = await signManifest(
    addMember(body1, member(xk, 'XK', 'Kosovo*'), at(11)),
    mkKey.privateJwk,
    mkKey.kid,
  );
  const al = generateSigningKey('AL', since);
  const v3 = await signManifest(
    addMember(verifyRootManifest(v2), member(al, 'AL'), at(20)),
    mkKey.privateJwk,
    mkKey.kid,
  );
  const ba = generateSigningKey('BA', since);
  v4 = await signManifest(
    addMember(verifyRootManifest(v3), member(ba, 'BA'), at(30)),
    mkKey.privateJwk,
    mkKey.kid,
  );
}, 30_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh data directory whose gateway was started (and stopped) with each of `versions` in turn. */
async function trusting(name: string, ...versions: SignedManifest[]): Promise<string> {
  const data = join(dir, name);
  for (const [i, version] of versions.entries()) {
    await (await start(await file(`${name}-${String(i)}`, version), data)).stop();
  }
  return data;
}

describe('the gateway’s trusted manifest', () => {
  // Each test starts from a data directory of its own: none, one that trusts version 1, or version 2.
  it('trusts the first manifest on first use and persists the signed document with mode 0600', async () => {
    const data = join(dir, 'first-use');
    const g = await start(await file('v1', v1), data);
    try {
      expect(g.manifest.version).toBe(1);
    } finally {
      await g.stop();
    }
    const persisted = JSON.parse(await readFile(trustedManifestPath(data), 'utf8')) as SignedManifest;
    expect(persisted).toEqual(v1);
    expect((await stat(trustedManifestPath(data))).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('refuses a version 2 in which a member added itself (signed by no member of version 1)', async () => {
    const data = await trusting('self-added', v1);
    // On its own the forged version verifies: only the trusted version 1 can tell.
    expect(verifyRootManifest(v2SelfAdded).version).toBe(2);
    const e = await refused(await file('v2-self-added', v2SelfAdded), data, 'MANIFEST_NOT_TRUSTED');
    expect(e.message).toContain('INSUFFICIENT_SIGNATURES');
    expect(await trustedVersion(data)).toBe(1);
  }, 60_000);

  it('accepts version 2 signed by the threshold of version 1, and then trusts it', async () => {
    const data = await trusting('successor', v1);
    const g = await start(await file('v2', v2), data);
    try {
      expect(g.manifest.version).toBe(2);
      expect(g.manifest.members.map((m) => m.id)).toContain('XK');
    } finally {
      await g.stop();
    }
    expect(await trustedVersion(data)).toBe(2);
    expect((await stat(trustedManifestPath(data))).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('refuses a rollback to version 1 once version 2 is trusted', async () => {
    const data = await trusting('rollback', v1, v2);
    const e = await refused(await file('v1', v1), data, 'MANIFEST_ROLLBACK');
    expect(e.message).toMatch(/version 1 is older than the trusted version 2/);
    expect(await trustedVersion(data)).toBe(2);
  }, 60_000);

  it('refuses another version 2 than the trusted one, even one version 1 would accept', async () => {
    const data = await trusting('fork', v1, v2);
    await refused(await file('v2-fork', v2Fork), data, 'MANIFEST_NOT_TRUSTED');
    expect(await trustedVersion(data)).toBe(2);
  }, 60_000);

  it('refuses a version that skips one (the configured manifest must be the next version)', async () => {
    const data = await trusting('gap', v1, v2);
    const e = await refused(await file('v4', v4), data, 'MANIFEST_NOT_TRUSTED');
    expect(e.message).toContain('VERSION_GAP');
    expect(await trustedVersion(data)).toBe(2);
  }, 60_000);

  it('starts again with the trusted version itself', async () => {
    const data = await trusting('again', v1, v2);
    const g = await start(await file('v2', v2), data);
    try {
      expect(g.manifest.version).toBe(2);
    } finally {
      await g.stop();
    }
  }, 60_000);
});

describe('a damaged trust store', () => {
  it('refuses to start, without quoting the file, rather than trust the configured manifest anew', async () => {
    const data = join(dir, 'damaged');
    await mkdir(join(data, 'trust'), { recursive: true });
    await writeFile(trustedManifestPath(data), 'SECRET-LOOKING-BYTES', { mode: 0o600 });
    const e = await start(await file('v1', v1), data).then(
      async (g) => {
        await g.stop();
        throw new Error('started');
      },
      (err: unknown) => err as ConfigError,
    );
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.code).toBe('MANIFEST_TRUST_STORE');
    expect(e.message).not.toContain('SECRET');
  }, 60_000);
});
