import { parseManifestBody } from '@wbx/registry';
import { describe, expect, it } from 'vitest';

import {
  agreementStatus,
  draftAgreement,
  revokeAgreement,
  signAgreement,
  type SignedAgreement,
} from '../src/index.js';
import {
  agreementErrorAsync,
  body,
  KEYS,
  MANIFEST,
  NOW,
  SIGNED_AT,
  signed,
  VALID_FROM,
  VALID_UNTIL,
} from './fixtures.js';

const status = (s: SignedAgreement, now = NOW): ReturnType<typeof agreementStatus> =>
  agreementStatus(s, MANIFEST, now);

/** The signatures of `a` with those of `b` appended (as if someone pasted them in). */
const withSignaturesOf = (a: SignedAgreement, b: SignedAgreement): SignedAgreement => ({
  ...a,
  signatures: [...a.signatures, ...b.signatures],
});

describe('signAgreement', () => {
  it('adds one signature per party with typ wbx-agreement+jws, kid and iat', async () => {
    const s = await signed(body(), ['MK']);
    expect(s.signatures).toHaveLength(1);
    const header: unknown = JSON.parse(Buffer.from(s.signatures[0]?.protected ?? '', 'base64url').toString());
    expect(header).toEqual({
      alg: 'EdDSA',
      typ: 'wbx-agreement+jws',
      kid: KEYS.MK.kid,
      iat: SIGNED_AT.getTime() / 1000,
    });
  });

  it('refuses a key of a partner that is not a party (NOT_A_PARTY)', async () => {
    const draft = draftAgreement(body());
    const e = await agreementErrorAsync(() => signAgreement(draft, KEYS.AL.key, KEYS.AL.kid, SIGNED_AT));
    expect(e.code).toBe('NOT_A_PARTY');
  });

  it('refuses a second signature by the same party (DUPLICATE_SIGNER)', async () => {
    const s = await signed(body(), ['RS']);
    const e = await agreementErrorAsync(() => signAgreement(s, KEYS.RS.key, KEYS.RS.kid, SIGNED_AT));
    expect(e.code).toBe('DUPLICATE_SIGNER');
  });
});

describe('agreementStatus', () => {
  it('is inactive with MISSING_SIGNATURE when only one party signed', async () => {
    const onlyMk = status(await signed(body(), ['MK']));
    expect(onlyMk).toMatchObject({ active: false, reasons: ['MISSING_SIGNATURE:RS'], signedBy: ['MK'] });
    const onlyRs = status(await signed(body(), ['RS']));
    expect(onlyRs).toMatchObject({ active: false, reasons: ['MISSING_SIGNATURE:MK'], signedBy: ['RS'] });
    expect(status(draftAgreement(body())).reasons).toEqual(['MISSING_SIGNATURE:MK', 'MISSING_SIGNATURE:RS']);
  });

  it('is active with both parties’ valid signatures inside its validity', async () => {
    const s = status(await signed(body(), ['RS', 'MK']));
    expect(s).toMatchObject({ active: true, reasons: [], signedBy: ['MK', 'RS'] });
    expect(s.body.id).toBe('MK-RS-2026-001');
  });

  it('is NOT_YET_VALID before validFrom and EXPIRED from validUntil on', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    expect(status(s, new Date(Date.parse(VALID_FROM) - 1)).reasons).toEqual(['NOT_YET_VALID']);
    expect(status(s, new Date(VALID_FROM)).active).toBe(true);
    expect(status(s, new Date(Date.parse(VALID_UNTIL) - 1)).active).toBe(true);
    expect(status(s, new Date(VALID_UNTIL)).reasons).toEqual(['EXPIRED']);
  });

  it('never counts a non-party signature and reports it (SIGNED_BY_NON_PARTY)', async () => {
    const mk = await signed(body(), ['MK']);
    // AL cannot sign through signAgreement: sign another agreement naming AL and paste the signature in.
    const al = await signed(body({ recipient: 'AL' }), ['AL']);
    const forged = status(withSignaturesOf(mk, al));
    expect(forged.active).toBe(false);
    expect(forged.reasons).toContain('SIGNED_BY_NON_PARTY:AL');
    expect(forged.reasons).toContain('MISSING_SIGNATURE:RS');
    expect(forged.signedBy).toEqual(['MK']);

    const both = await signed(body(), ['MK', 'RS']);
    const extra = status(withSignaturesOf(both, al));
    expect(extra).toMatchObject({
      active: false,
      reasons: ['SIGNED_BY_NON_PARTY:AL'],
      signedBy: ['MK', 'RS'],
    });
  });

  it('reports BAD_SIGNATURE for a tampered payload, and the parties as missing', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    const tamperedBody = { ...body(), recipient: 'AL' };
    const tampered = { ...s, payload: draftAgreement(tamperedBody).payload };
    const result = status(tampered);
    expect(result.active).toBe(false);
    expect(result.reasons).toEqual([
      `BAD_SIGNATURE:${KEYS.MK.kid}`,
      'SIGNED_BY_NON_PARTY:RS',
      'MISSING_SIGNATURE:MK',
      'MISSING_SIGNATURE:AL',
    ]);

    const sameParties = { ...s, payload: draftAgreement({ ...body(), legalBasis: 'changed' }).payload };
    expect(status(sameParties).reasons).toEqual([
      `BAD_SIGNATURE:${KEYS.MK.kid}`,
      `BAD_SIGNATURE:${KEYS.RS.kid}`,
      'MISSING_SIGNATURE:MK',
      'MISSING_SIGNATURE:RS',
    ]);
  });

  it('reports BAD_SIGNATURE for a signature that is not the WBX agreement profile', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    const [mk, rs] = s.signatures;
    const header = Buffer.from(
      JSON.stringify({ alg: 'none', typ: 'wbx-agreement+jws', kid: KEYS.RS.kid }),
    ).toString('base64url');
    const broken = { ...s, signatures: [mk!, { protected: header, signature: rs!.signature }] };
    expect(status(broken).reasons).toEqual(['BAD_SIGNATURE:signatures[1]', 'MISSING_SIGNATURE:RS']);
  });

  it('does not count a signature made with a key that was not valid in the manifest at its iat', async () => {
    const early = await signed(body(), ['MK', 'RS'], new Date('2025-12-01T00:00:00Z'));
    expect(status(early).reasons).toEqual([
      `KEY_NOT_YET_VALID:${KEYS.MK.kid}`,
      `KEY_NOT_YET_VALID:${KEYS.RS.kid}`,
      'MISSING_SIGNATURE:MK',
      'MISSING_SIGNATURE:RS',
    ]);
    const revoked = parseManifestBody({
      ...MANIFEST,
      members: MANIFEST.members.map((m) =>
        m.id !== 'RS'
          ? m
          : { ...m, signingKeys: m.signingKeys.map((k) => ({ ...k, revokedAt: '2026-01-10T00:00:00Z' })) },
      ),
    });
    const s = await signed(body(), ['MK', 'RS']);
    expect(agreementStatus(s, revoked, NOW).reasons).toEqual([
      `KEY_REVOKED:${KEYS.RS.kid}`,
      'MISSING_SIGNATURE:RS',
    ]);
  });

  it('does not count a signature dated in the future (SIGNED_IN_FUTURE)', async () => {
    const s = await signed(body(), ['MK', 'RS'], new Date(NOW.getTime() + 3_600_000));
    expect(status(s).reasons).toContain(`SIGNED_IN_FUTURE:${KEYS.MK.kid}`);
  });

  it('reports a party that signed twice (DUPLICATE_SIGNER)', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    const [mk] = s.signatures;
    expect(status({ ...s, signatures: [...s.signatures, mk!] })).toMatchObject({
      active: false,
      reasons: ['DUPLICATE_SIGNER:MK'],
    });
  });
});

describe('revokeAgreement', () => {
  const revokedAt = new Date('2026-04-01T00:00:00Z');

  it.each(['MK', 'RS'] as const)('a revocation by %s makes it REVOKED from revokedAt on', async (party) => {
    const s = await signed(body(), ['MK', 'RS']);
    const r = await revokeAgreement(s, KEYS[party].key, KEYS[party].kid, { revokedAt, at: NOW });
    expect(r.revocations).toHaveLength(1);
    expect(status(r, new Date(revokedAt.getTime() - 1))).toMatchObject({
      active: true,
      revokedAt: revokedAt.toISOString(),
    });
    expect(status(r, revokedAt)).toMatchObject({ active: false, reasons: [`REVOKED:${party}`] });
  });

  it('refuses a revocation by a non-party (NOT_A_PARTY)', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    const e = await agreementErrorAsync(() => revokeAgreement(s, KEYS.AL.key, KEYS.AL.kid, { at: NOW }));
    expect(e.code).toBe('NOT_A_PARTY');
  });

  it('refuses to revoke what is already revoked by then (ALREADY_REVOKED), allows an earlier date', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    const r = await revokeAgreement(s, KEYS.MK.key, KEYS.MK.kid, { revokedAt, at: NOW });
    const later = new Date(revokedAt.getTime() + 1);
    const e = await agreementErrorAsync(() =>
      revokeAgreement(r, KEYS.RS.key, KEYS.RS.kid, { revokedAt: later, at: NOW }),
    );
    expect(e.code).toBe('ALREADY_REVOKED');
    const r2 = await revokeAgreement(r, KEYS.RS.key, KEYS.RS.kid, { at: NOW });
    expect(status(r2)).toMatchObject({
      active: false,
      reasons: ['REVOKED:RS'],
      revokedAt: NOW.toISOString(),
    });
  });

  it('treats a revocation that does not verify or is not for this agreement as BAD_REVOCATION', async () => {
    const s = await signed(body(), ['MK', 'RS']);
    const other = await signed(body({ id: 'MK-RS-2026-002' }), ['MK', 'RS']);
    const foreign = await revokeAgreement(other, KEYS.MK.key, KEYS.MK.kid, { revokedAt, at: NOW });
    const misplaced = { ...s, revocations: foreign.revocations ?? [] };
    expect(status(misplaced).reasons).toEqual(['BAD_REVOCATION:revocations[0]']);

    const r = await revokeAgreement(s, KEYS.RS.key, KEYS.RS.kid, { revokedAt, at: NOW });
    const [rev] = r.revocations ?? [];
    const content = { agreementId: 'MK-RS-2026-001', revokedAt: revokedAt.toISOString(), by: 'MK' };
    const forged = { ...rev!, payload: Buffer.from(JSON.stringify(content)).toString('base64url') };
    expect(status({ ...s, revocations: [forged] }).reasons).toEqual(['BAD_REVOCATION:revocations[0]']);
  });
});
