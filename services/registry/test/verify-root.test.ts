import { createPublicKey } from 'node:crypto';

import { GeneralSign, generalVerify } from 'jose';
import { describe, expect, it } from 'vitest';

import { createManifest, generateSigningKey, verifyRootManifest, type SignedManifest } from '../src/index.js';
import { body, KEY_DAY, registryError, signedBody, signingKeyOf, testMember } from './fixtures.js';

const mk = testMember('MK');
const rs = testMember('RS');
const al = testMember('AL');
const root = body([mk, rs, al]); // 2 of 3

const header = (kid: string, extra: Record<string, unknown> = {}): string =>
  Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'wbx-manifest+jws', kid, ...extra })).toString('base64url');

describe('verifyRootManifest', () => {
  it('accepts a 2-of-3 manifest signed by 2 members', async () => {
    const signed = await signedBody(root, mk.key, rs.key);
    expect(verifyRootManifest(signed)).toEqual(root);
  });

  it('accepts a 2-of-3 manifest signed by all 3 members', async () => {
    expect(verifyRootManifest(await signedBody(root, mk.key, rs.key, al.key)).version).toBe(1);
  });

  it('rejects a 2-of-3 manifest signed by 1 member (INSUFFICIENT_SIGNATURES)', async () => {
    const signed = await signedBody(root, mk.key);
    expect(registryError(() => verifyRootManifest(signed)).code).toBe('INSUFFICIENT_SIGNATURES');
  });

  it('rejects an unsigned manifest (INSUFFICIENT_SIGNATURES)', () => {
    expect(registryError(() => verifyRootManifest(createManifest(root))).code).toBe(
      'INSUFFICIENT_SIGNATURES',
    );
  });

  it('counts one member signing twice with two keys once', async () => {
    const second = generateSigningKey('MK', KEY_DAY, [mk.key.kid]);
    expect(second.kid).toBe('MK#2026-01-05-2');
    const b = body([mk, rs, al], {
      members: [
        { ...mk.member, signingKeys: [...mk.member.signingKeys, signingKeyOf(second)] },
        rs.member,
        al.member,
      ],
    });
    const signed = await signedBody(b, mk.key, second);
    const e = registryError(() => verifyRootManifest(signed));
    expect(e.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(verifyRootManifest(await signedBody(b, mk.key, second, al.key)).members).toHaveLength(3);
  });

  it('rejects a signature by a kid not in the manifest (UNKNOWN_SIGNER), even with enough others', async () => {
    const stranger = testMember('ME');
    const signed = await signedBody(root, mk.key, rs.key, stranger.key);
    expect(registryError(() => verifyRootManifest(signed)).code).toBe('UNKNOWN_SIGNER');
  });

  it('rejects a tampered payload (BAD_SIGNATURE)', async () => {
    const signed = await signedBody(root, mk.key, rs.key);
    const tampered = { ...root, threshold: 1 };
    const forged: SignedManifest = { ...signed, payload: createManifest(tampered).payload };
    expect(registryError(() => verifyRootManifest(forged)).code).toBe('BAD_SIGNATURE');
  });

  it('rejects the whole manifest when one of several signatures is bad (BAD_SIGNATURE)', async () => {
    const signed = await signedBody(root, mk.key, rs.key, al.key);
    const [a, b, c] = signed.signatures;
    const broken = { ...c!, signature: b!.signature };
    expect(registryError(() => verifyRootManifest({ ...signed, signatures: [a!, b!, broken] })).code).toBe(
      'BAD_SIGNATURE',
    );
  });

  it('rejects the same kid signing twice (DUPLICATE_SIGNER)', async () => {
    const signed = await signedBody(root, mk.key, rs.key);
    const dup = { ...signed, signatures: [...signed.signatures, signed.signatures[0]!] };
    expect(registryError(() => verifyRootManifest(dup)).code).toBe('DUPLICATE_SIGNER');
  });

  it.each([
    ['alg none', { alg: 'none' }],
    ['the fully-specified alg Ed25519', { alg: 'Ed25519' }],
    ['another typ', { typ: 'JWT' }],
    ['a crit extension', { crit: ['b64'], b64: false }],
  ])('rejects a signature whose protected header has %s (BAD_SIGNATURE)', async (_, extra) => {
    const signed = await signedBody(root, mk.key, rs.key);
    const [first, second] = signed.signatures;
    const swapped = { protected: header(rs.key.kid, extra), signature: second!.signature };
    expect(registryError(() => verifyRootManifest({ ...signed, signatures: [first!, swapped] })).code).toBe(
      'BAD_SIGNATURE',
    );
  });

  it('does not count a key revoked at or before issuedAt', async () => {
    const b = body([mk, rs, al], {
      members: [
        mk.member,
        { ...rs.member, signingKeys: [signingKeyOf(rs.key, { revokedAt: root.issuedAt })] },
        al.member,
      ],
    });
    const signed = await signedBody(b, mk.key, rs.key);
    const e2 = registryError(() => verifyRootManifest(signed));
    expect(e2.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(e2.details.join('\n')).toContain('KEY_REVOKED');
    expect(verifyRootManifest(await signedBody(b, mk.key, al.key)).version).toBe(1);
  });

  it('does not count a key that is not yet valid at issuedAt', async () => {
    const b = body([mk, rs, al], {
      members: [
        mk.member,
        { ...rs.member, signingKeys: [signingKeyOf(rs.key, { notBefore: '2026-02-01T00:00:00Z' })] },
        al.member,
      ],
    });
    const signed = await signedBody(b, mk.key, rs.key);
    const e = registryError(() => verifyRootManifest(signed));
    expect(e.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(e.details.join('\n')).toContain('KEY_NOT_YET_VALID');
  });

  it('produces JWS General JSON Serialization that jose verifies, and accepts what jose signs', async () => {
    const signed = await signedBody(root, mk.key, rs.key);
    const result = await generalVerify(
      { payload: signed.payload, signatures: [...signed.signatures] },
      createPublicKey({ key: rs.key.publicJwk, format: 'jwk' }),
    );
    expect(JSON.parse(new TextDecoder().decode(result.payload))).toEqual(root);
    expect(result.protectedHeader).toEqual({ alg: 'EdDSA', typ: 'wbx-manifest+jws', kid: rs.key.kid });

    const sign = new GeneralSign(Buffer.from(signed.payload, 'base64url'));
    for (const k of [al.key, mk.key]) {
      sign
        .addSignature(k.privateJwk)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'wbx-manifest+jws', kid: k.kid });
    }
    const byJose = await sign.sign();
    expect(verifyRootManifest(byJose as SignedManifest)).toEqual(root);
  });
});
