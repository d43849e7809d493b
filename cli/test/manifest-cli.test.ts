import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx } from '../src/run-captured.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-manifest-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DAY1 = new Date('2024-06-01T12:00:00Z');
const DAY2 = new Date('2024-06-02T12:00:00Z');
const DAY3 = new Date('2024-06-03T12:00:00Z');

const readJson = async (path: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

/** Runs wbx and fails with its stderr if it did not exit 0. */
async function ok(argv: string[], now = DAY1): Promise<string> {
  const r = await wbx(argv, { now });
  expect(r.stderr.includes('wbx: ') ? r.stderr : '').toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** A fresh directory with keys for `partners` and a v1 manifest of them (2 of n), unsigned. */
async function federation(name: string, partners: string[]): Promise<{ keys: string; m1: string }> {
  const base = join(dir, name);
  const keys = join(base, 'keys');
  for (const p of partners) await ok(['keys', 'generate', '--partner', p, '--out', keys]);
  const m1 = join(base, 'manifest.json');
  const members = partners.flatMap((p) => ['--member', `${p}=${join(keys, `${p}.public.jwk`)}`]);
  await ok(['manifest', 'init', ...members, '--threshold', '2', '--name', 'MK=North Macedonia', '--out', m1]);
  return { keys, m1 };
}

const sign = (manifest: string, keys: string, partner: string, now = DAY1): Promise<string> =>
  ok(['manifest', 'sign', '--manifest', manifest, '--key', join(keys, `${partner}.private.jwk`)], now);

describe('wbx keys generate', () => {
  it('writes a 0600 private key and a public key, both with the kid, and prints the kid', async () => {
    const out = join(dir, 'gen');
    const stdout = await ok(['keys', 'generate', '--partner', 'MK', '--out', out]);
    expect(stdout).toBe('MK#2024-06-01-1\n');
    const privatePath = join(out, 'MK.private.jwk');
    expect((await stat(privatePath)).mode & 0o777).toBe(0o600);
    const priv = await readJson(privatePath);
    const pub = await readJson(join(out, 'MK.public.jwk'));
    expect(priv).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'MK#2024-06-01-1' });
    expect(typeof priv.d).toBe('string');
    expect(pub).toEqual({ kty: 'OKP', crv: 'Ed25519', x: priv.x, kid: 'MK#2024-06-01-1' });
  });

  it('refuses to overwrite an existing private key unless --force', async () => {
    const out = join(dir, 'gen-twice');
    await ok(['keys', 'generate', '--partner', 'RS', '--out', out]);
    const privatePath = join(out, 'RS.private.jwk');
    const before = await readFile(privatePath, 'utf8');
    const again = await wbx(['keys', 'generate', '--partner', 'RS', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('USAGE');
    expect(again.stderr).toContain('--force');
    expect(await readFile(privatePath, 'utf8')).toBe(before);

    const forced = await ok(['keys', 'generate', '--partner', 'RS', '--out', out, '--force']);
    expect(forced).toBe('RS#2024-06-01-2\n');
    expect(await readFile(privatePath, 'utf8')).not.toBe(before);
    expect((await stat(privatePath)).mode & 0o777).toBe(0o600);
  });

  it('refuses a code that is not a partner', async () => {
    const r = await wbx(['keys', 'generate', '--partner', 'ZZ', '--out', join(dir, 'zz')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--partner');
  });
});

describe('wbx manifest', () => {
  it('init → sign by 2 of 3 → verify prints version, members and OK', async () => {
    const { keys, m1 } = await federation('two-of-three', ['MK', 'RS', 'AL']);
    await sign(m1, keys, 'MK');
    expect(await sign(m1, keys, 'RS')).toContain('2 signatures');
    const out = await ok(['manifest', 'verify', '--manifest', m1]);
    expect(out).toContain('version 1');
    expect(out).toContain('threshold 2 of 3');
    expect(out).toContain('members: MK, RS, AL');
    expect(out.trimEnd().endsWith('OK')).toBe(true);
  });

  it('verify exits 1 naming INSUFFICIENT_SIGNATURES when only 1 of 2 required signed', async () => {
    const { keys, m1 } = await federation('one-of-three', ['MK', 'RS', 'AL']);
    await sign(m1, keys, 'MK');
    const r = await wbx(['manifest', 'verify', '--manifest', m1]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('version 1');
    expect(r.stdout).not.toContain('OK');
    expect(r.stderr).toContain('wbx: INSUFFICIENT_SIGNATURES: manifest rejected: ');
  });

  it('verify exits 1 naming BAD_SIGNATURE for a tampered manifest', async () => {
    const { keys, m1 } = await federation('tampered', ['MK', 'RS', 'AL']);
    await sign(m1, keys, 'MK');
    await sign(m1, keys, 'RS');
    const signed = await readJson(m1);
    const body = JSON.parse(Buffer.from(signed.payload as string, 'base64url').toString()) as {
      threshold: number;
    };
    body.threshold = 1;
    signed.payload = Buffer.from(JSON.stringify(body)).toString('base64url');
    await writeFile(m1, JSON.stringify(signed));
    const r = await wbx(['manifest', 'verify', '--manifest', m1]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BAD_SIGNATURE');
  });

  it('sign refuses to sign twice with the same key', async () => {
    const { keys, m1 } = await federation('twice', ['MK', 'RS']);
    await sign(m1, keys, 'MK');
    const r = await wbx(['manifest', 'sign', '--manifest', m1, '--key', join(keys, 'MK.private.jwk')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DUPLICATE_SIGNER');
  });

  it('init refuses to overwrite a manifest and a key file of another partner', async () => {
    const { keys, m1 } = await federation('init-refusals', ['MK', 'RS']);
    const args = ['manifest', 'init', '--threshold', '1', '--member', `MK=${join(keys, 'MK.public.jwk')}`];
    const again = await wbx([...args, '--out', m1]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists');
    const wrong = await wbx([
      ...args,
      '--member',
      `AL=${join(keys, 'RS.public.jwk')}`,
      '--out',
      join(dir, 'init-refusals', 'other.json'),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('INVALID_INPUT');
  });

  it('an add-member proposal signed by the new member and 1 old member fails verify --trusted', async () => {
    const { keys, m1 } = await federation('self-add', ['MK', 'RS', 'AL']);
    await sign(m1, keys, 'MK');
    await sign(m1, keys, 'RS');
    await ok(['keys', 'generate', '--partner', 'XK', '--out', keys], DAY2);
    const m2 = join(dir, 'self-add', 'manifest.v2.json');
    const xkPublic = join(keys, 'XK.public.jwk');
    await ok(['manifest', 'add-member', '--manifest', m1, '--member', `XK=${xkPublic}`, '--out', m2], DAY2);
    await sign(m2, keys, 'XK', DAY2);
    await sign(m2, keys, 'MK', DAY2);
    const r = await wbx(['manifest', 'verify', '--manifest', m2, '--trusted', m1]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('members: MK, RS, AL, XK');
    expect(r.stderr).toContain('wbx: INSUFFICIENT_SIGNATURES: manifest rejected: ');
    expect(r.stderr).toContain('trusted version 1');

    await sign(m2, keys, 'AL', DAY2);
    expect(await ok(['manifest', 'verify', '--manifest', m2, '--trusted', m1])).toContain('OK');
  });

  it('rotate-key and revoke-key proposals verify as a chain from the trusted version', async () => {
    const { keys, m1 } = await federation('rotation', ['MK', 'RS', 'AL']);
    for (const p of ['MK', 'RS']) await sign(m1, keys, p);
    const newKeys = join(dir, 'rotation', 'new-keys');
    expect(await ok(['keys', 'generate', '--partner', 'RS', '--out', newKeys, '--manifest', m1], DAY2)).toBe(
      'RS#2024-06-02-1\n',
    );
    const m2 = join(dir, 'rotation', 'v2.json');
    const rsNew = join(newKeys, 'RS.public.jwk');
    const rotate = ['manifest', 'rotate-key', '--manifest', m1, '--partner', 'RS', '--public-key', rsNew];
    await ok([...rotate, '--retire-old-at', '2024-07-01', '--out', m2], DAY2);
    for (const p of ['MK', 'RS']) await sign(m2, keys, p, DAY2);
    await sign(m2, newKeys, 'RS', DAY2);

    const revoke = await wbx(['manifest', 'revoke-key', '--manifest', m2, '--kid', 'RS#2024-06-01-1'], {
      now: DAY3,
    });
    expect(revoke.code).toBe(0);
    expect(revoke.stderr).toContain('proposed version 3');
    const m3 = join(dir, 'rotation', 'v3.json');
    await writeFile(m3, revoke.stdout);
    for (const p of ['MK', 'AL']) await sign(m3, keys, p, DAY3);

    const out = await ok(['manifest', 'verify', '--manifest', m3, '--trusted', m1, '--chain', m2]);
    expect(out).toContain('version 3');
    expect(out).toContain('OK');
    const gap = await wbx(['manifest', 'verify', '--manifest', m3, '--trusted', m1]);
    expect(gap.code).toBe(1);
    expect(gap.stderr).toContain('VERSION_GAP');

    const show = await ok(['manifest', 'show', '--manifest', m3], DAY3);
    expect(show).toMatch(/RS\s.*RS#2024-06-01-1\s.*revoked/);
    expect(show).toMatch(/RS\s.*RS#2024-06-02-1\s.*valid/);
  });

  it('show prints the members and their keys; --json prints the body', async () => {
    const { keys, m1 } = await federation('show', ['MK', 'RS', 'FRONTEX']);
    await sign(m1, keys, 'MK');
    const out = await ok(['manifest', 'show', '--manifest', m1]);
    expect(out).toContain('version 1');
    expect(out).toContain('signatures (unverified): MK#2024-06-01-1');
    expect(out).toMatch(/^member\s+name\s+roles\s+kid/m);
    expect(out).toMatch(/^MK\s+North Macedonia\s+origin,recipient\s+MK#2024-06-01-1\s/m);
    expect(out).toMatch(/^RS\s+RS\s+origin,recipient\s+RS#2024-06-01-1\s/m);
    expect(out).toMatch(/^FRONTEX\s+FRONTEX\s+analyst\s+FRONTEX#2024-06-01-1\s.*valid$/m);

    const json = JSON.parse(await ok(['manifest', 'show', '--manifest', m1, '--json'])) as {
      version: number;
      members: { id: string }[];
    };
    expect(json.version).toBe(1);
    expect(json.members.map((m) => m.id)).toEqual(['MK', 'RS', 'FRONTEX']);
  });
});
