import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeManifest, type SignedManifest } from '@wbx/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { certSha256, makeTestPki, type TestPki } from '@wbx/fixtures';
import { wbx } from '../src/run-captured.js';

let dir: string;
let pki: TestPki;
let keys: string;
let m1: string;

const DAY1 = new Date('2024-06-01T12:00:00Z');
const DAY2 = new Date('2024-06-02T12:00:00Z');

async function ok(argv: string[], now = DAY2): Promise<{ stdout: string; stderr: string }> {
  const r = await wbx(argv, { now });
  expect(r.stderr.includes('wbx: ') ? r.stderr : '').toBe('');
  expect(r.code).toBe(0);
  return r;
}

async function pinsOf(file: string, member: string): Promise<readonly string[] | undefined> {
  const body = decodeManifest(JSON.parse(await readFile(file, 'utf8')) as SignedManifest);
  return body.members.find((m) => m.id === member)?.tlsCertSha256;
}

const sign = (manifest: string, partner: string): Promise<unknown> =>
  ok(['manifest', 'sign', '--manifest', manifest, '--key', join(keys, `${partner}.private.jwk`)]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-manifest-tls-'));
  pki = await makeTestPki();
  keys = join(dir, 'keys');
  for (const p of ['MK', 'RS', 'AL']) {
    await ok(['keys', 'generate', '--partner', p, '--out', keys], DAY1);
  }
  m1 = join(dir, 'manifest.json');
  const members = ['MK', 'RS'].flatMap((p) => ['--member', `${p}=${join(keys, `${p}.public.jwk`)}`]);
  await ok(['manifest', 'init', ...members, '--threshold', '2', '--out', m1], DAY1);
  await sign(m1, 'MK');
  await sign(m1, 'RS');
}, 60_000);

afterAll(async () => {
  await pki[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('wbx manifest set-tls', () => {
  it('proposes the next version pinning the certificate, which k members sign into a valid successor', async () => {
    const out = join(dir, 'v2.json');
    const r = await ok([
      'manifest',
      'set-tls',
      '--manifest',
      m1,
      '--member',
      'RS',
      '--cert',
      pki.client.cert,
      '--out',
      out,
    ]);
    const pin = await certSha256(pki.client.cert);
    expect(r.stderr).toContain(`pin ${pin} (CN=RS`);
    expect(r.stderr).toContain('proposed version 2');
    expect(await pinsOf(out, 'RS')).toEqual([pin]);
    expect(await pinsOf(out, 'MK')).toEqual([]);
    const shown = await ok(['manifest', 'show', '--manifest', out]);
    expect(shown.stdout).toContain(`RS: Exchange certificate pins ${pin}\n`);
    const unsigned = await wbx(['manifest', 'verify', '--manifest', out, '--trusted', m1]);
    expect(unsigned.code).toBe(1);
    await sign(out, 'MK');
    await sign(out, 'RS');
    expect((await ok(['manifest', 'verify', '--manifest', out, '--trusted', m1])).stdout).toContain('OK');
  });

  it('replaces the pins, or with --keep adds to them (while a certificate is replaced)', async () => {
    const first = join(dir, 'keep-1.json');
    await ok([
      'manifest',
      'set-tls',
      '--manifest',
      m1,
      '--member',
      'RS',
      '--cert',
      pki.client.cert,
      '--out',
      first,
    ]);
    const next = await pki.issueClient('RS');
    const kept = join(dir, 'keep-2.json');
    const argv = ['manifest', 'set-tls', '--manifest', first, '--member', 'RS', '--cert', next.cert];
    await ok([...argv, '--keep', '--out', kept]);
    const [a, b] = [await certSha256(pki.client.cert), await certSha256(next.cert)];
    expect(await pinsOf(kept, 'RS')).toEqual([a, b]);
    const replaced = join(dir, 'keep-3.json');
    await ok([...argv, '--out', replaced]);
    expect(await pinsOf(replaced, 'RS')).toEqual([b]);
  });

  it('refuses a file without a certificate, a CA certificate, a missing file and a non-member, with codes', async () => {
    const garbage = join(dir, 'garbage.pem');
    await writeFile(
      garbage,
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
    );
    const key = pki.client.key;
    const run = (member: string, cert: string) =>
      wbx([
        'manifest',
        'set-tls',
        '--manifest',
        m1,
        '--member',
        member,
        '--cert',
        cert,
        '--out',
        join(dir, 'x'),
      ]);
    for (const bad of [garbage, key, pki.caA]) {
      const r = await run('RS', bad);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('INVALID_CERTIFICATE');
    }
    const missing = await run('RS', join(dir, 'missing.pem'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('IO');
    const stranger = await run('AL', pki.client.cert);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('NOT_A_MEMBER');
  });
});

describe('wbx manifest add-member --tls-cert', () => {
  it('pins the new member’s Exchange certificate in the proposal', async () => {
    const al = await pki.issueClient('AL');
    const out = join(dir, 'add-al.json');
    await ok([
      'manifest',
      'add-member',
      '--manifest',
      m1,
      '--member',
      `AL=${join(keys, 'AL.public.jwk')}`,
      '--tls-cert',
      al.cert,
      '--out',
      out,
    ]);
    expect(await pinsOf(out, 'AL')).toEqual([await certSha256(al.cert)]);
  });
});
