import { createPublicKey, sign, verify } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  generateSigningKey,
  importPrivateJwk,
  importPublicJwk,
  manifestJwks,
  parseManifestBody,
  resolveSigningKey,
} from '../src/index.js';
import { body, registryError, signingKeyOf, testMember } from './fixtures.js';

const mk = testMember('MK');
const rs = testMember('RS');
const spare = generateSigningKey('MK', new Date('2026-01-06T00:00:00Z'));
const manifest = parseManifestBody(
  body([mk, rs], {
    members: [
      {
        ...mk.member,
        signingKeys: [
          signingKeyOf(mk.key, { notAfter: '2026-06-01T00:00:00Z', revokedAt: '2026-03-01T00:00:00Z' }),
          signingKeyOf(spare, { notBefore: '2026-02-01T00:00:00Z', notAfter: '2026-12-01T00:00:00Z' }),
        ],
      },
      rs.member,
    ],
  }),
);
const REVOKED_AT = new Date('2026-03-01T00:00:00Z');
const plus = (d: Date, ms: number): Date => new Date(d.getTime() + ms);

describe('resolveSigningKey', () => {
  it('returns the public key of a valid key, which verifies what the private key signed', () => {
    const key = resolveSigningKey(manifest, 'MK', mk.key.kid, new Date('2026-02-01T00:00:00Z'));
    const data = Buffer.from('event');
    const privateKey = importPrivateJwk(mk.key.privateJwk).key;
    expect(verify(null, data, key, sign(null, data, privateKey))).toBe(true);
  });

  it('returns the same KeyObject on every call for the same manifest (cached)', () => {
    const at = new Date('2026-02-01T00:00:00Z');
    expect(resolveSigningKey(manifest, 'RS', rs.key.kid, at)).toBe(
      resolveSigningKey(manifest, 'RS', rs.key.kid, at),
    );
  });

  it('rejects a key used after its revocation time, accepts it just before (KEY_REVOKED)', () => {
    expect(() => resolveSigningKey(manifest, 'MK', mk.key.kid, plus(REVOKED_AT, -1000))).not.toThrow();
    expect(registryError(() => resolveSigningKey(manifest, 'MK', mk.key.kid, REVOKED_AT)).code).toBe(
      'KEY_REVOKED',
    );
    expect(
      registryError(() => resolveSigningKey(manifest, 'MK', mk.key.kid, plus(REVOKED_AT, 1000))).code,
    ).toBe('KEY_REVOKED');
  });

  it('rejects a key before its notBefore (KEY_NOT_YET_VALID)', () => {
    const e = registryError(() =>
      resolveSigningKey(manifest, 'MK', spare.kid, new Date('2026-01-31T23:59:59Z')),
    );
    expect(e.code).toBe('KEY_NOT_YET_VALID');
    expect(() =>
      resolveSigningKey(manifest, 'MK', spare.kid, new Date('2026-02-01T00:00:00Z')),
    ).not.toThrow();
  });

  it('rejects a key at or after its notAfter (KEY_EXPIRED)', () => {
    expect(() =>
      resolveSigningKey(manifest, 'MK', spare.kid, new Date('2026-11-30T23:59:59Z')),
    ).not.toThrow();
    const e = registryError(() =>
      resolveSigningKey(manifest, 'MK', spare.kid, new Date('2026-12-01T00:00:00Z')),
    );
    expect(e.code).toBe('KEY_EXPIRED');
  });

  it('rejects an issuer that is not a member (UNKNOWN_ISSUER)', () => {
    const at = new Date('2026-02-01T00:00:00Z');
    expect(registryError(() => resolveSigningKey(manifest, 'AL', 'AL#2026-01-05-1', at)).code).toBe(
      'UNKNOWN_ISSUER',
    );
  });

  it('rejects a kid that is not in the manifest (UNKNOWN_KEY)', () => {
    const at = new Date('2026-02-01T00:00:00Z');
    expect(registryError(() => resolveSigningKey(manifest, 'MK', 'MK#2026-01-05-9', at)).code).toBe(
      'UNKNOWN_KEY',
    );
  });

  it("rejects another member's kid (KEY_MISMATCH)", () => {
    const at = new Date('2026-02-01T00:00:00Z');
    expect(registryError(() => resolveSigningKey(manifest, 'MK', rs.key.kid, at)).code).toBe('KEY_MISMATCH');
  });

  it('rejects an invalid date (INVALID_ARGUMENT)', () => {
    expect(registryError(() => resolveSigningKey(manifest, 'MK', mk.key.kid, new Date('x'))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('manifestJwks', () => {
  it('lists every key with kid, alg EdDSA and use sig, and no private material', () => {
    const jwks = manifestJwks(manifest);
    expect(jwks.keys.map((k) => k.kid)).toEqual([mk.key.kid, spare.kid, rs.key.kid]);
    for (const k of jwks.keys) {
      expect(k).toEqual({
        kty: 'OKP',
        crv: 'Ed25519',
        x: expect.any(String) as string,
        kid: k.kid,
        alg: 'EdDSA',
        use: 'sig',
      });
    }
  });
});

describe('generateSigningKey', () => {
  const day = new Date('2026-11-28T15:30:00Z');

  it('numbers kids from 1 per member and UTC day', () => {
    expect(generateSigningKey('MK', day).kid).toBe('MK#2026-11-28-1');
    expect(generateSigningKey('MK', day, []).kid).toBe('MK#2026-11-28-1');
  });

  it('takes one more than the highest n already used by that member on that day', () => {
    const existing = ['MK#2026-11-28-1', 'MK#2026-11-28-3', 'MK#2026-11-27-9', 'RS#2026-11-28-7', 'junk'];
    expect(generateSigningKey('MK', day, existing).kid).toBe('MK#2026-11-28-4');
    expect(generateSigningKey('RS', day, existing).kid).toBe('RS#2026-11-28-8');
    expect(generateSigningKey('AL', day, new Set(existing)).kid).toBe('AL#2026-11-28-1');
  });

  it('returns a matching Ed25519 pair whose public half has no d', () => {
    const k = generateSigningKey('RS', day);
    expect(k.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: k.privateJwk.x, kid: k.kid });
    expect('d' in k.publicJwk).toBe(false);
    const fromPrivate = createPublicKey(importPrivateJwk(k.privateJwk).key).export({ format: 'jwk' });
    expect(fromPrivate.x).toBe(k.publicJwk.x);
    expect(importPublicJwk(k.publicJwk)).toEqual({
      kid: k.kid,
      memberId: 'RS',
      jwk: { kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x },
    });
  });

  it('refuses a code that is not a partner (INVALID_ARGUMENT)', () => {
    expect(registryError(() => generateSigningKey('ZZ', day)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('importPublicJwk / importPrivateJwk', () => {
  it('refuses a private JWK as a public key and a public JWK as a private key (INVALID_KEY)', () => {
    expect(registryError(() => importPublicJwk(mk.key.privateJwk)).code).toBe('INVALID_KEY');
    expect(registryError(() => importPrivateJwk(mk.key.publicJwk)).code).toBe('INVALID_KEY');
  });

  it('refuses a private JWK whose x is not its public part (KEY_MISMATCH)', () => {
    expect(registryError(() => importPrivateJwk({ ...mk.key.privateJwk, x: rs.key.publicJwk.x })).code).toBe(
      'KEY_MISMATCH',
    );
  });
});
