import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { revokeAgreement, type SignedAgreement } from '@wbx/agreements';
import { makeFederation, type FederationDir } from '@wbx/fixtures';
import { startNatsServer } from '@wbx/test-helpers';
import { fromSeed } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx } from '../src/run-captured.js';

let dir: string;
let fed: FederationDir;
let agreement: SignedAgreement;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-natscfg-'));
  fed = await makeFederation(dir, ['MK', 'RS', 'AL']);
  agreement = await fed.agree({
    id: 'MK-RS-9',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'test',
    validFrom: new Date(Date.now() - 60_000).toISOString(),
    validUntil: new Date(Date.now() + 86_400_000).toISOString(),
    terms: [{ types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 7 }],
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const args = (): string[] => [
  ...['nats-config', '--partner', 'MK', '--manifest', fed.identity.manifestFile],
  ...['--agreements', fed.agreementsDir('MK'), '--out', join(dir, 'access')],
];

/** The public key (U…) of an nkey seed file's text. */
function nkeyPublicKey(seedText: string): string {
  return fromSeed(new TextEncoder().encode(seedText.trim())).getPublicKey();
}

describe('wbx nats-config', () => {
  it('writes a user per recipient with an active agreement, and credentials to hand over', async () => {
    const r = await wbx(args(), { now: new Date() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('RS: hand over');
    expect(r.stdout).not.toContain('AL:');
    const conf = await readFile(join(dir, 'access', 'nats-access.conf'), 'utf8');
    expect(conf).toContain('$JS.API.CONSUMER.MSG.NEXT.WBX_SHARE_RS.RS');
    expect(conf).not.toContain('no_auth_user');
    expect((await stat(join(dir, 'access', 'RS.nkey'))).mode & 0o777).toBe(0o600);
  });

  it('produces a configuration nats-server accepts: RS authenticates, anonymous does not', async () => {
    await using server = await startNatsServer({
      config: await readFile(join(dir, 'access', 'nats-access.conf'), 'utf8'),
    });
    const seed = (await readFile(join(dir, 'access', 'RS.nkey'), 'utf8')).trim();
    const nc = await connect({
      servers: server.url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
      inboxPrefix: '_INBOX_RS',
    });
    await nc.close();
    await expect(connect({ servers: server.url, reconnect: false, timeout: 2_000 })).rejects.toThrow();
  });

  it('keeps handed-over credentials on a re-run, and removes them when the agreement is revoked', async () => {
    const before = await readFile(join(dir, 'access', 'RS.nkey'), 'utf8');
    const rsUser = nkeyPublicKey(before);
    expect((await wbx(args(), { now: new Date() })).code).toBe(0);
    expect(await readFile(join(dir, 'access', 'RS.nkey'), 'utf8')).toBe(before);
    const k = fed.key('RS');
    await fed.put(await revokeAgreement(agreement, k.key, k.kid, { at: new Date() }), 'MK', 'RS', 'MK-RS-9');
    const r = await wbx(args(), { now: new Date(Date.now() + 1_000) });
    expect(r.stdout).toContain('no active agreement');
    expect(existsSync(join(dir, 'access', 'RS.nkey'))).toBe(false);
    // RS's account stays declared (standby: an agreement that starts later is a reload), without a user.
    const conf = await readFile(join(dir, 'access', 'nats-access.conf'), 'utf8');
    expect(conf).not.toContain(rsUser);
    expect(conf).toMatch(/RECIPIENT_RS: \{\n[^\n]*\n {4}users: \[\]/);
  });
});
