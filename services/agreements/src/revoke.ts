import type { KeyObject } from 'node:crypto';

import { encodeBase64url } from '@wbx/jws';

import { decodeAgreement, decodeRevocation, type RevocationBody, type SignedAgreement } from './document.js';
import { AgreementError } from './errors.js';
import { REVOCATION_TYP } from './internal/header.js';
import { signerOf, signPayload } from './internal/jws-sign.js';

export interface RevokeOptions {
  /** The agreement is revoked from this instant on (default: `at`). */
  readonly revokedAt?: Date;
  /** When the revocation is signed (`iat`). */
  readonly at: Date;
}

/**
 * Appends a revocation signed by a party (the partner of `kid`: provider or recipient) and returns a new
 * signed agreement; the input is not changed. Either party may revoke on its own.
 *
 * Throws MALFORMED_AGREEMENT (and the body's codes), INVALID_KEY, INVALID_ARGUMENT, NOT_A_PARTY,
 * ALREADY_REVOKED (a revocation attached already takes effect at or before `revokedAt`).
 */
export async function revokeAgreement(
  signed: SignedAgreement,
  privateKey: KeyObject,
  kid: string,
  options: RevokeOptions,
): Promise<SignedAgreement> {
  const body = decodeAgreement(signed);
  const by = signerOf(privateKey, kid, options.at);
  if (by !== body.provider && by !== body.recipient) {
    throw new AgreementError('NOT_A_PARTY', `${kid} is a key of ${by}, not of a party to ${body.id}`);
  }
  const revokedAt = options.revokedAt ?? options.at;
  if (Number.isNaN(revokedAt.getTime()))
    throw new AgreementError('INVALID_ARGUMENT', 'revokedAt: invalid date');
  const earlier = (signed.revocations ?? [])
    .map(decodeRevocation)
    .find(
      (r) => r !== undefined && r.agreementId === body.id && Date.parse(r.revokedAt) <= revokedAt.getTime(),
    );
  if (earlier !== undefined) {
    throw new AgreementError(
      'ALREADY_REVOKED',
      `${body.id} is already revoked from ${earlier.revokedAt} (by ${earlier.by})`,
    );
  }
  const content: RevocationBody = { agreementId: body.id, revokedAt: revokedAt.toISOString(), by };
  const payload = encodeBase64url(JSON.stringify(content));
  const signature = await signPayload(payload, REVOCATION_TYP, privateKey, kid, options.at);
  return { ...signed, revocations: [...(signed.revocations ?? []), { payload, signatures: [signature] }] };
}
