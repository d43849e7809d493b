import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import type { ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import type { GetManifestResponse, ListAgreementsResponse } from '@wbx/proto';
import {
  addMember,
  decodeManifest,
  foundFederation,
  generateSigningKey,
  importPrivateJwk,
  revokeKey,
  rotateKey,
  setTlsPins,
  signManifest,
  writeFederation,
  type GeneratedSigningKey,
  type ManifestBody,
  type Member,
  type SignedManifest,
} from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';

import { ACCESS_CONFIG_FILE, statusDetails, trustedManifestPath, type Gateway } from '@wbx/gateway';
import { certSha256, makeTestPki, startFederation, startTestGateway } from '@wbx/fixtures';
import { startNatsServer, until } from '@wbx/test-helpers';
import { exchangeClients, unary } from '../support/exchange-client.js';
import { submitAll } from '../support/submit.js';

const HOUR = 3_600_000;

/** Replaces `file` in one step (write beside it, rename over it), as an operator's tooling would. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

const json = (signed: SignedManifest): string => `${JSON.stringify(signed, null, 2)}\n`;

/** MK's key file (as the gateway reads it) imported as a signer. */
async function signerOf(file: string): Promise<ReturnType<typeof importPrivateJwk>> {
  return importPrivateJwk(JSON.parse(await readFile(file, 'utf8')));
}

function publicKey(key: GeneratedSigningKey, notBefore: Date) {
  return {
    kid: key.kid,
    jwk: { kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x } as const,
    notBefore: notBefore.toISOString(),
  };
}

function newMember(id: string, notBefore: Date): { member: Member; key: GeneratedSigningKey } {
  const key = generateSigningKey(id, notBefore);
  const member: Member = {
    id,
    name: id,
    roles: ['origin', 'recipient'],
    signingKeys: [publicKey(key, notBefore)],
    tlsCertSha256: [],
  };
  return { member, key };
}

function crossings(seed: string, count: number): ValidEvent[] {
  return [
    ...generateEvents({
      partner: 'MK',
      count: 40,
      seed,
      from: new Date('2023-09-01'),
      to: new Date('2023-09-15'),
    }),
  ]
    .map((e) => {
      const r = validateEvent(JSON.parse(JSON.stringify(e)));
      if (!r.ok) throw new Error('invalid generated event');
      return r.event;
    })
    .filter((e) => e.type === 'crossing.irregular')
    .slice(0, count);
}

async function streamCount(g: Gateway, stream: string): Promise<number> {
  try {
    return (await (await jetstreamManager(g.nats)).streams.info(stream)).state.messages;
  } catch {
    return 0;
  }
}

interface LogLine {
  readonly level: number;
  readonly code?: string;
  readonly msg: string;
  readonly members?: string[];
}

/** A logger whose lines are kept (parsed) in `lines`. */
function capture(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const logged = (lines: readonly LogLine[], code: string, level = 50): boolean =>
  lines.some((l) => l.code === code && l.level >= level);

describe('manifest hot reload', () => {
  it("verifies a rotated key's events and refuses a revoked key's without restarting the recipient", async () => {
    await using fed = await startFederation(['MK', 'RS']);
    await fed.agree({
      id: 'MK-RS-1',
      provider: 'MK',
      recipient: 'RS',
      purposes: ['border-management'],
      legalBasis: 'test',
      validFrom: new Date(Date.now() - HOUR).toISOString(),
      validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
      terms: [{ types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 7 }],
    });
    let mk = await fed.start('MK');
    const rs = await fed.start('RS', { receiveFrom: [mk] });
    const first = crossings('reload-1', 2);
    await submitAll(mk, first);
    await until('the first events in RS inbox', async () => (await streamCount(rs, 'WBX_INBOX')) === 2);

    // Version 2: MK gets a second key (signed by MK's first key: threshold 1 of version 1).
    const keyFile = fed.identity.keyFile('MK');
    const k1 = await signerOf(keyFile);
    const v1 = decodeManifest(
      JSON.parse(await readFile(fed.identity.manifestFile, 'utf8')) as SignedManifest,
    );
    const k2 = generateSigningKey('MK', new Date(Date.now() - 60_000), [k1.kid]);
    const v2 = await signManifest(
      rotateKey(v1, 'MK', publicKey(k2, new Date(Date.now() - 60_000)), new Date()),
      k1.key,
      k1.kid,
    );
    await replace(fed.identity.manifestFile, json(v2));
    await until('RS on version 2', () => rs.manifest.version === 2);
    expect(rs.manifest.members.find((m) => m.id === 'MK')?.signingKeys.map((k) => k.kid)).toContain(k2.kid);
    await until('MK on version 2', () => mk.manifest.version === 2);

    // MK restarts with its new key (its own restart; RS keeps running on what it took up live).
    await writeFile(keyFile, JSON.stringify(k2.privateJwk), { mode: 0o600 });
    await mk.stop();
    mk = await fed.start('MK');
    await submitAll(mk, crossings('reload-2', 2));
    await until('the new key’s events in RS inbox', async () => (await streamCount(rs, 'WBX_INBOX')) === 4);
    expect(await streamCount(rs, 'WBX_QUARANTINE')).toBe(0);

    // Version 3 revokes the new key (as after a compromise; from a few seconds ago, as presentations
    // carry their time in whole seconds), signed by MK's first key; MK keeps signing with the new one.
    const revokedAt = new Date(Date.now() - 5_000);
    const v3 = await signManifest(
      revokeKey(rs.manifest, 'MK', k2.kid, revokedAt, new Date()),
      k1.key,
      k1.kid,
    );
    await replace(fed.identity.manifestFile, json(v3));
    await until('RS on version 3', () => rs.manifest.version === 3);
    await until('MK on version 3', () => mk.manifest.version === 3);
    await submitAll(mk, crossings('reload-3', 2));
    await until('the revoked key’s events quarantined', async () => {
      return (await streamCount(rs, 'WBX_QUARANTINE')) === 2;
    });
    const jsm = await jetstreamManager(rs.nats);
    const refused = await jsm.streams.getMessage('WBX_QUARANTINE', { last_by_subj: 'wbx.quarantine.MK' });
    expect(refused?.header.get('Wbx-Error-Code')).toBe('KEY_REVOKED');
    expect(await streamCount(rs, 'WBX_INBOX')).toBe(4);
  });

  it('refuses a version too few members signed, a half-written file and a rollback, and keeps running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-reload-'));
    try {
      const since = new Date(Date.now() - HOUR);
      const founded = await foundFederation([{ id: 'MK' }, { id: 'RS' }, { id: 'AL' }], 2, since);
      const identity = await writeFederation(join(dir, 'federation'), founded);
      const { log, lines } = capture();
      await using gw = await startTestGateway({ identity, log, dir: join(dir, 'gateway') });
      const g = gw.gateway;
      const v1 = decodeManifest(founded.manifest);
      const proposal = addMember(v1, newMember('XK', since).member, new Date());
      const sign = (signed: SignedManifest, id: string): Promise<SignedManifest> => {
        const k = founded.keys.get(id) as GeneratedSigningKey;
        return signManifest(signed, k.privateJwk, k.kid);
      };
      const byMk = await sign(proposal, 'MK');

      await replace(identity.manifestFile, json(byMk));
      await until('the one-signature version refused', () => logged(lines, 'MANIFEST_NOT_TRUSTED'));
      expect(g.manifest.version).toBe(1);

      const v2 = await sign(byMk, 'RS');
      const text = json(v2);
      await writeFile(identity.manifestFile, text.slice(0, text.length >> 1));
      await until('the half-written file refused', () => logged(lines, 'MANIFEST_UNREADABLE'));
      expect(g.manifest.version).toBe(1);

      await replace(identity.manifestFile, text);
      await until('version 2 taken up', () => g.manifest.version === 2);
      expect(g.manifest.members.map((m) => m.id)).toContain('XK');
      const trusted = await readFile(trustedManifestPath(gw.config.data), 'utf8');
      expect(decodeManifest(JSON.parse(trusted) as SignedManifest).version).toBe(2);

      await replace(identity.manifestFile, json(founded.manifest));
      await until('the rollback refused', () => logged(lines, 'MANIFEST_ROLLBACK'));
      expect(g.manifest.version).toBe(2);
      await until('ready on version 2', async () => (await fetch(`http://${g.httpAddress}/readyz`)).ok);
      const metrics = await (await fetch(`http://${g.httpAddress}/metrics`)).text();
      expect(metrics).toMatch(/^wbx_manifest_version 2$/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes up a version from a mounted ConfigMap’s ..data swap, declaring the new member’s NATS account', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-reload-cm-'));
    try {
      const since = new Date(Date.now() - HOUR);
      const founded = await foundFederation([{ id: 'MK' }, { id: 'RS' }], 1, since);
      const identity = await writeFederation(join(dir, 'federation'), founded);
      // The manifest as kubelet mounts a ConfigMap key: manifest.json -> ..data/manifest.json.
      const mount = join(dir, 'manifest');
      await mkdir(join(mount, '..2026_12_04_00_00_01.000000001'), { recursive: true });
      await writeFile(
        join(mount, '..2026_12_04_00_00_01.000000001', 'manifest.json'),
        json(founded.manifest),
      );
      await symlink('..2026_12_04_00_00_01.000000001', join(mount, '..data'));
      await symlink(join('..data', 'manifest.json'), join(mount, 'manifest.json'));
      const { log, lines } = capture();
      await using gw = await startTestGateway({
        identity,
        log,
        dir: join(dir, 'gateway'),
        settings: { manifest: join(mount, 'manifest.json') },
      });
      const g = gw.gateway;
      const mk = founded.keys.get('MK') as GeneratedSigningKey;
      const v2 = await signManifest(
        addMember(decodeManifest(founded.manifest), newMember('XK', since).member, new Date()),
        mk.privateJwk,
        mk.kid,
      );
      // kubelet's update: a new timestamped directory, ..data_tmp renamed over ..data, the old one removed.
      await mkdir(join(mount, '..2026_12_04_00_00_02.000000002'));
      await writeFile(join(mount, '..2026_12_04_00_00_02.000000002', 'manifest.json'), json(v2));
      await symlink('..2026_12_04_00_00_02.000000002', join(mount, '..data_tmp'));
      await rename(join(mount, '..data_tmp'), join(mount, '..data'));
      await rm(join(mount, '..2026_12_04_00_00_01.000000001'), { recursive: true });

      await until('version 2 taken up', () => g.manifest.version === 2);
      const body: ManifestBody = g.manifest;
      expect(body.members.map((m) => m.id)).toEqual(['MK', 'RS', 'XK']);
      const access = join(g.accessDir ?? '', ACCESS_CONFIG_FILE);
      await until('XK’s standby account written', async () =>
        (await readFile(access, 'utf8')).includes('RECIPIENT_XK'),
      );
      // nats-server wires the imports of an account only at start: the embedded one restarts for it.
      await until('the embedded nats-server restarted', () =>
        lines.some((l) => l.msg === 'embedded nats-server restarted with the new accounts'),
      );
      await until('ready again', async () => (await fetch(`http://${g.httpAddress}/readyz`)).ok);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("with the partner's own NATS, writes a new member's account and logs that NATS needs a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-reload-own-'));
    try {
      await using nats = await startNatsServer();
      const since = new Date(Date.now() - HOUR);
      const founded = await foundFederation([{ id: 'MK' }, { id: 'RS' }], 1, since);
      const identity = await writeFederation(join(dir, 'federation'), founded);
      const { log, lines } = capture();
      const access = join(dir, 'access');
      await using gw = await startTestGateway({
        identity,
        log,
        natsUrl: nats.url,
        dir: join(dir, 'gateway'),
        settings: { access },
      });
      const mk = founded.keys.get('MK') as GeneratedSigningKey;
      const v2 = await signManifest(
        addMember(decodeManifest(founded.manifest), newMember('XK', since).member, new Date()),
        mk.privateJwk,
        mk.kid,
      );
      await replace(identity.manifestFile, json(v2));
      await until('version 2 taken up', () => gw.gateway.manifest.version === 2);
      await until('the restart the new account needs logged', () =>
        lines.some((l) => l.code === 'NATS_RESTART_NEEDED' && l.members?.includes('XK') === true),
      );
      expect(await readFile(join(access, ACCESS_CONFIG_FILE), 'utf8')).toContain('RECIPIENT_XK');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("pins a partner's Exchange certificate from the version the running gateway takes up", async () => {
    await using pki = await makeTestPki();
    await using fed = await startFederation(['MK', 'RS']);
    const mk = await fed.start('MK', {
      settings: {
        'exchange.listen': '127.0.0.1:0',
        'exchange.tls.cert': pki.server.cert,
        'exchange.tls.key': pki.server.key,
        'exchange.tls.clientCa': pki.caA,
      },
    });
    const rs = await exchangeClients(pki, mk.exchangeAddress ?? '', pki.client);
    try {
      const list = (): Promise<ListAgreementsResponse> => unary((cb) => rs.exchange.listAgreements({}, cb));
      const refused = await list().then(
        () => undefined,
        (e: unknown) => statusDetails(e as ServiceError).reason,
      );
      expect(refused).toBe('CERT_NOT_PINNED');
      const mkKey = await signerOf(fed.identity.keyFile('MK'));
      const v2 = await signManifest(
        setTlsPins(mk.manifest, 'RS', [await certSha256(pki.client.cert)], new Date()),
        mkKey.key,
        mkKey.kid,
      );
      await replace(fed.identity.manifestFile, json(v2));
      await until('MK on version 2', () => mk.manifest.version === 2);
      expect((await list()).agreements).toEqual([]);
      const served = await unary<GetManifestResponse>((cb) => rs.federation.getManifest({}, cb));
      expect(served.version).toBe(2);
      expect(served.manifestJson).toBe(json(v2));
    } finally {
      rs.close();
    }
  });
});
