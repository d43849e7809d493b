import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  foundFederation,
  importPrivateJwk,
  importPublicJwk,
  resolveSigningKey,
  signatureKids,
  verifyRootManifest,
  writeFederation,
} from '../src/index.js';

describe('foundFederation', () => {
  it('gives each founder a key and a first manifest that every founder signed', async () => {
    const since = new Date('2026-01-10T08:00:00Z');
    const { keys, manifest } = await foundFederation(
      [
        { id: 'MK', name: 'North Macedonia', tlsCertSha256: ['ab'.repeat(32)] },
        { id: 'RS' },
        { id: 'FRONTEX', roles: ['analyst'] },
      ],
      2,
      since,
    );
    const body = verifyRootManifest(manifest);
    expect(body).toMatchObject({ version: 1, threshold: 2, issuedAt: since.toISOString() });
    expect(body.members.map((m) => [m.id, m.name, m.roles, m.tlsCertSha256])).toEqual([
      ['MK', 'North Macedonia', ['origin', 'recipient'], ['ab'.repeat(32)]],
      ['RS', 'RS', ['origin', 'recipient'], []],
      ['FRONTEX', 'FRONTEX', ['analyst'], []],
    ]);
    expect(signatureKids(manifest).sort()).toEqual([...keys.values()].map((k) => k.kid).sort());
    for (const [id, key] of keys) {
      expect(key.kid).toMatch(new RegExp(`^${id}#2026-01-10-\\d+$`));
      // The key is valid from `since`, not before.
      expect(() => resolveSigningKey(body, id, key.kid, since)).not.toThrow();
      expect(() => resolveSigningKey(body, id, key.kid, new Date(since.getTime() - 1000))).toThrow();
    }
  });
});

describe('writeFederation', () => {
  it('writes the key pairs and the manifest, and reads back as it was founded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-found-'));
    try {
      const founded = await foundFederation(
        [{ id: 'MK' }, { id: 'RS' }],
        1,
        new Date('2026-01-10T08:00:00Z'),
      );
      const files = await writeFederation(dir, founded);
      expect(files.manifestFile).toBe(join(dir, 'manifest.json'));
      expect(JSON.parse(await readFile(files.manifestFile, 'utf8'))).toEqual(founded.manifest);
      for (const [id, key] of founded.keys) {
        expect(files.keyFile(id)).toBe(join(dir, 'keys', `${id}.private.jwk`));
        expect((await stat(files.keyFile(id))).mode & 0o777).toBe(0o600);
        const imported = importPrivateJwk(JSON.parse(await readFile(files.keyFile(id), 'utf8')));
        expect(imported.kid).toBe(key.kid);
        expect(files.key(id).kid).toBe(key.kid);
        const publicJwk = JSON.parse(
          await readFile(join(dir, 'keys', `${id}.public.jwk`), 'utf8'),
        ) as unknown;
        expect(importPublicJwk(publicJwk).kid).toBe(key.kid);
      }
      expect(() => files.key('AL')).toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
