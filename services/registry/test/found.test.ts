import { describe, expect, it } from 'vitest';

import { foundFederation, resolveSigningKey, signatureKids, verifyRootManifest } from '../src/index.js';

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
