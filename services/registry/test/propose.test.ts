import { generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  addMember,
  createManifest,
  decodeManifest,
  parseManifestBody,
  removeMember,
  revokeKey,
  rotateKey,
  setThreshold,
  signatureKids,
  signManifest,
} from '../src/index.js';
import {
  body,
  registryError,
  registryErrorAsync,
  signBy,
  signedBody,
  signingKeyOf,
  testMember,
} from './fixtures.js';
import { generateSigningKey } from '../src/index.js';

const mk = testMember('MK');
const rs = testMember('RS');
const al = testMember('AL');
const v1 = parseManifestBody(body([mk, rs, al]));
const T = '2026-01-11T00:00:00Z';

describe('proposals', () => {
  it('addMember: next version, unsigned, with the member appended', () => {
    const xk = testMember('XK');
    const proposal = addMember(v1, xk.member, new Date(T));
    expect(proposal.signatures).toEqual([]);
    const next = decodeManifest(proposal);
    expect(next).toMatchObject({ version: 2, threshold: 2, issuedAt: '2026-01-11T00:00:00.000Z' });
    expect(next.members.map((m) => m.id)).toEqual(['MK', 'RS', 'AL', 'XK']);
    expect(registryError(() => addMember(v1, mk.member, T)).code).toBe('ALREADY_A_MEMBER');
  });

  it('addMember: refuses a malformed member (MALFORMED_MANIFEST)', () => {
    const xk = testMember('XK');
    const bad = { ...xk.member, signingKeys: [{ ...xk.member.signingKeys[0]!, kid: 'MK#2026-01-05-5' }] };
    expect(registryError(() => addMember(v1, bad, T)).code).toBe('MALFORMED_MANIFEST');
  });

  it('refuses a proposal issued before the current version (ISSUED_AT_ROLLBACK)', () => {
    expect(registryError(() => setThreshold(v1, 3, '2026-01-09T00:00:00Z')).code).toBe('ISSUED_AT_ROLLBACK');
  });

  it('rotateKey: adds the new key and retires the current ones at retireOldAt', () => {
    const fresh = generateSigningKey('RS', new Date(T), [rs.key.kid]);
    const proposal = rotateKey(v1, 'RS', signingKeyOf(fresh, { notBefore: T }), T, {
      retireOldAt: '2026-02-01T00:00:00Z',
    });
    const keys = decodeManifest(proposal).members[1]!.signingKeys;
    expect(keys.map((k) => [k.kid, k.notAfter])).toEqual([
      [rs.key.kid, '2026-02-01T00:00:00Z'],
      [fresh.kid, undefined],
    ]);
    expect(
      decodeManifest(rotateKey(v1, 'RS', signingKeyOf(fresh), T)).members[1]!.signingKeys[0]!.notAfter,
    ).toBe(undefined);
  });

  it('rotateKey: refuses a non-member and a key of another member', () => {
    const fresh = generateSigningKey('RS', new Date(T), [rs.key.kid]);
    expect(registryError(() => rotateKey(v1, 'ME', signingKeyOf(fresh), T)).code).toBe('NOT_A_MEMBER');
    expect(registryError(() => rotateKey(v1, 'MK', signingKeyOf(fresh), T)).code).toBe('KEY_MISMATCH');
  });

  it('revokeKey: sets revokedAt; refuses unknown kids, other members and re-revocation', () => {
    const proposal = revokeKey(v1, 'AL', al.key.kid, T, T);
    const v2 = decodeManifest(proposal);
    expect(v2.members[2]!.signingKeys[0]!.revokedAt).toBe(T);
    expect(registryError(() => revokeKey(v1, 'AL', 'AL#2026-01-05-7', T, T)).code).toBe('UNKNOWN_KEY');
    expect(registryError(() => revokeKey(v1, 'AL', mk.key.kid, T, T)).code).toBe('KEY_MISMATCH');
    expect(registryError(() => revokeKey(v1, 'ME', mk.key.kid, T, T)).code).toBe('NOT_A_MEMBER');
    expect(registryError(() => revokeKey(v2, 'AL', al.key.kid, '2026-01-12T00:00:00Z', T)).code).toBe(
      'KEY_REVOKED',
    );
  });

  it('refuses a revocation that leaves fewer members able to sign than the threshold (THRESHOLD_INVALID)', () => {
    const v2 = decodeManifest(revokeKey(v1, 'AL', al.key.kid, T, T));
    expect(registryError(() => revokeKey(v2, 'RS', rs.key.kid, T, T)).code).toBe('THRESHOLD_INVALID');
    expect(registryError(() => setThreshold(v2, 3, T)).code).toBe('THRESHOLD_INVALID');
  });

  it('setThreshold: refuses 0, fractions and more than the members (THRESHOLD_INVALID)', () => {
    expect(decodeManifest(setThreshold(v1, 3, T)).threshold).toBe(3);
    for (const k of [0, 1.5, 4])
      expect(registryError(() => setThreshold(v1, k, T)).code).toBe('THRESHOLD_INVALID');
  });

  it('removeMember: drops the member; refuses if the threshold could no longer be met', () => {
    expect(decodeManifest(removeMember(v1, 'AL', T)).members.map((m) => m.id)).toEqual(['MK', 'RS']);
    const v2 = decodeManifest(setThreshold(v1, 3, T));
    expect(registryError(() => removeMember(v2, 'AL', T)).code).toBe('THRESHOLD_INVALID');
    expect(registryError(() => removeMember(v1, 'ME', T)).code).toBe('NOT_A_MEMBER');
  });

  it('drops the signatures of the version it derives from', async () => {
    const signed = await signedBody(v1, mk.key, rs.key);
    expect(setThreshold(decodeManifest(signed), 1, T).signatures).toEqual([]);
  });
});

describe('signManifest', () => {
  it('adds one signature and leaves the input unchanged', async () => {
    const unsigned = createManifest(v1);
    const once = await signManifest(unsigned, mk.key.privateJwk, mk.key.kid);
    expect(unsigned.signatures).toEqual([]);
    expect(signatureKids(once)).toEqual([mk.key.kid]);
    expect(once.payload).toBe(unsigned.payload);
  });

  it('accepts a KeyObject', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const signed = await signManifest(createManifest(v1), privateKey, 'ME#2026-01-05-1');
    expect(signatureKids(signed)).toEqual(['ME#2026-01-05-1']);
  });

  it('refuses a second signature with the same kid (DUPLICATE_SIGNER)', async () => {
    const once = await signBy(createManifest(v1), mk.key);
    const e = await registryErrorAsync(() => signManifest(once, mk.key.privateJwk, mk.key.kid));
    expect(e.code).toBe('DUPLICATE_SIGNER');
  });

  it('refuses a key that is not the one the manifest lists for the kid (KEY_MISMATCH)', async () => {
    const e = await registryErrorAsync(() =>
      signManifest(createManifest(v1), { ...rs.key.privateJwk, kid: undefined }, mk.key.kid),
    );
    expect(e.code).toBe('KEY_MISMATCH');
  });

  it('refuses a public or non-Ed25519 key (INVALID_KEY) and a malformed kid (INVALID_ARGUMENT)', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const { privateKey: ecKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const unsigned = createManifest(v1);
    expect((await registryErrorAsync(() => signManifest(unsigned, publicKey, 'ME#2026-01-05-1'))).code).toBe(
      'INVALID_KEY',
    );
    expect((await registryErrorAsync(() => signManifest(unsigned, ecKey, 'ME#2026-01-05-1'))).code).toBe(
      'INVALID_KEY',
    );
    expect((await registryErrorAsync(() => signManifest(unsigned, mk.key.privateJwk, 'MK-1'))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });
});
