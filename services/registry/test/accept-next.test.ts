import { describe, expect, it } from 'vitest';

import {
  acceptManifestChain,
  acceptNextManifest,
  addMember,
  createManifest,
  generateSigningKey,
  revokeKey,
  rotateKey,
  setThreshold,
  verifyRootManifest,
  type ManifestBody,
} from '../src/index.js';
import { body, KEY_DAY, registryError, signBy, signedBody, signingKeyOf, testMember } from './fixtures.js';

const mk = testMember('MK');
const rs = testMember('RS');
const al = testMember('AL');
const xk = testMember('XK');
const T2 = '2026-01-12T00:00:00Z';
const T3 = '2026-01-13T00:00:00Z';

async function trustedRoot(): Promise<ManifestBody> {
  return verifyRootManifest(await signedBody(body([mk, rs, al]), mk.key, rs.key));
}

describe('acceptNextManifest', () => {
  it('accepts the next version signed by 2 of the 3 trusted members', async () => {
    const v1 = await trustedRoot();
    const v2 = await signBy(setThreshold(v1, 3, '2026-01-11T00:00:00Z'), mk.key, rs.key, al.key);
    const accepted = acceptNextManifest(v1, v2);
    expect(accepted.version).toBe(2);
    expect(accepted.threshold).toBe(3);
  });

  it('rejects the next version signed by 1 of the 3 trusted members (INSUFFICIENT_SIGNATURES)', async () => {
    const v1 = await trustedRoot();
    const v2 = await signBy(setThreshold(v1, 1, '2026-01-11T00:00:00Z'), mk.key);
    expect(registryError(() => acceptNextManifest(v1, v2)).code).toBe('INSUFFICIENT_SIGNATURES');
  });

  it('rejects a rollback to the same or an older version (ROLLBACK)', async () => {
    const v1 = await trustedRoot();
    const v2 = await signBy(setThreshold(v1, 3, '2026-01-11T00:00:00Z'), mk.key, rs.key, al.key);
    const trustedV2 = acceptNextManifest(v1, v2);
    const sameAgain = await signedBody(body([mk, rs, al], { version: 2 }), mk.key, rs.key, al.key);
    const older = await signedBody(body([mk, rs, al]), mk.key, rs.key, al.key);
    expect(registryError(() => acceptNextManifest(trustedV2, sameAgain)).code).toBe('ROLLBACK');
    expect(registryError(() => acceptNextManifest(trustedV2, older)).code).toBe('ROLLBACK');
    expect(registryError(() => acceptNextManifest(trustedV2, v2)).code).toBe('ROLLBACK');
  });

  it('rejects a skipped version (VERSION_GAP)', async () => {
    const v1 = await trustedRoot();
    const v3 = await signedBody(body([mk, rs, al], { version: 3 }), mk.key, rs.key, al.key);
    expect(registryError(() => acceptNextManifest(v1, v3)).code).toBe('VERSION_GAP');
  });

  it('rejects a next version issued before the trusted one (ISSUED_AT_ROLLBACK)', async () => {
    const v1 = await trustedRoot();
    const early = body([mk, rs, al], { version: 2, issuedAt: '2026-01-09T00:00:00Z' });
    const v2 = await signedBody(early, mk.key, rs.key);
    expect(registryError(() => acceptNextManifest(v1, v2)).code).toBe('ISSUED_AT_ROLLBACK');
  });

  it('rejects a member adding itself with only k-1 trusted members (INSUFFICIENT_SIGNATURES)', async () => {
    const v1 = await trustedRoot();
    const proposal = addMember(v1, xk.member, '2026-01-11T00:00:00Z');
    const e = registryError(() => acceptNextManifest(v1, proposal));
    expect(e.code).toBe('INSUFFICIENT_SIGNATURES');
    const selfAdded = await signBy(proposal, xk.key, mk.key);
    const e2 = registryError(() => acceptNextManifest(v1, selfAdded));
    expect(e2.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(e2.message).toContain('trusted version 1');
    expect(e2.details.join('\n')).toContain(`${xk.key.kid}: not a key of trusted version 1`);
    expect(acceptNextManifest(v1, await signBy(selfAdded, rs.key)).members.map((m) => m.id)).toEqual([
      'MK',
      'RS',
      'AL',
      'XK',
    ]);
  });

  it('requires the candidate threshold of its own members too', async () => {
    const v1 = await trustedRoot();
    // Raised to 3 of 3: two trusted signers meet the old threshold but not the new one.
    const v2 = await signBy(setThreshold(v1, 3, '2026-01-11T00:00:00Z'), mk.key, rs.key);
    const e = registryError(() => acceptNextManifest(v1, v2));
    expect(e.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(e.message).toContain('by its own members');
  });

  it('counts a key revoked by the candidate toward the trusted threshold only', async () => {
    const v1 = await trustedRoot();
    const newRs = generateSigningKey('RS', new Date('2026-01-11T00:00:00Z'));
    const rotation = rotateKey(v1, 'RS', signingKeyOf(newRs, { notBefore: '2026-01-11T00:00:00Z' }), T2);
    const v2 = acceptNextManifest(v1, await signBy(rotation, mk.key, rs.key));
    const revocation = revokeKey(v2, 'RS', rs.key.kid, T3, T3);
    // RS's old key is valid in v2 but revoked at v3's issuedAt: it counts for v2's threshold, not v3's.
    const e = registryError(() => acceptNextManifest(v2, revocation));
    expect(e.code).toBe('INSUFFICIENT_SIGNATURES');
    const oldAndMk = await signBy(revocation, rs.key, mk.key);
    const e2 = registryError(() => acceptNextManifest(v2, oldAndMk));
    expect(e2.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(e2.message).toContain('by its own members');
    expect(acceptNextManifest(v2, await signBy(oldAndMk, newRs)).version).toBe(3);
    const onlyRs = await signBy(revocation, rs.key, newRs);
    expect(registryError(() => acceptNextManifest(v2, onlyRs)).code).toBe('INSUFFICIENT_SIGNATURES');
  });

  it('rejects a kid bound to different key material than in the trusted version (KEY_MISMATCH)', async () => {
    const v1 = await trustedRoot();
    const impostor = generateSigningKey('RS', KEY_DAY);
    const swapped = body([mk, rs, al], {
      version: 2,
      members: [
        mk.member,
        { ...rs.member, signingKeys: [signingKeyOf(impostor, { kid: rs.key.kid })] },
        al.member,
      ],
    });
    const v2 = await signedBody(swapped, mk.key, al.key);
    expect(registryError(() => acceptNextManifest(v1, v2)).code).toBe('KEY_MISMATCH');
  });

  it('rejects a signature by a kid in neither version (UNKNOWN_SIGNER)', async () => {
    const v1 = await trustedRoot();
    const v2 = await signBy(setThreshold(v1, 2, '2026-01-11T00:00:00Z'), mk.key, rs.key, xk.key);
    expect(registryError(() => acceptNextManifest(v1, v2)).code).toBe('UNKNOWN_SIGNER');
  });

  it('rejects a tampered candidate (BAD_SIGNATURE)', async () => {
    const v1 = await trustedRoot();
    const v2 = await signBy(setThreshold(v1, 2, '2026-01-11T00:00:00Z'), mk.key, rs.key);
    const forged = { ...v2, payload: setThreshold(v1, 1, '2026-01-11T00:00:00Z').payload };
    expect(registryError(() => acceptNextManifest(v1, forged)).code).toBe('BAD_SIGNATURE');
  });
});

describe('acceptManifestChain', () => {
  it('accepts a chain of 3 versions and returns the newest', async () => {
    const v1 = await trustedRoot();
    const s2 = await signBy(addMember(v1, xk.member, '2026-01-11T00:00:00Z'), mk.key, rs.key, xk.key);
    const v2 = acceptNextManifest(v1, s2);
    const s3 = await signBy(setThreshold(v2, 3, '2026-01-12T00:00:00Z'), al.key, xk.key, mk.key);
    const v3 = acceptNextManifest(v2, s3);
    const s4 = await signBy(revokeKey(v3, 'AL', al.key.kid, T3, T3), mk.key, rs.key, xk.key);
    const newest = acceptManifestChain(v1, [s2, s3, s4]);
    expect(newest.version).toBe(4);
    expect(newest.members.find((m) => m.id === 'AL')!.signingKeys[0]!.revokedAt).toBe('2026-01-13T00:00:00Z');
  });

  it('returns the trusted manifest for an empty chain', async () => {
    const v1 = await trustedRoot();
    expect(acceptManifestChain(v1, [])).toBe(v1);
  });

  it('names the version that failed and keeps its code', async () => {
    const v1 = await trustedRoot();
    const s2 = await signBy(setThreshold(v1, 3, '2026-01-11T00:00:00Z'), mk.key, rs.key, al.key);
    const v2 = acceptNextManifest(v1, s2);
    const s3 = await signBy(setThreshold(v2, 2, '2026-01-12T00:00:00Z'), mk.key, rs.key);
    const e = registryError(() => acceptManifestChain(v1, [s2, s3]));
    expect(e.code).toBe('INSUFFICIENT_SIGNATURES');
    expect(e.message).toMatch(/^chain\[1\] \(version 3\): /);
    const gap = registryError(() => acceptManifestChain(v1, [s3]));
    expect(gap.code).toBe('VERSION_GAP');
    expect(gap.message).toContain('chain[0] (version 3)');
  });

  it('refuses an unsigned proposal anywhere in the chain', async () => {
    const v1 = await trustedRoot();
    expect(registryError(() => acceptManifestChain(v1, [createManifest({ ...v1, version: 2 })])).code).toBe(
      'INSUFFICIENT_SIGNATURES',
    );
  });
});
