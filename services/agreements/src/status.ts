import type { ManifestBody } from '@wbx/registry';
import { parseTimestamp } from '@wbx/schema';

import type { AgreementBody } from './body.js';
import {
  decodeAgreement,
  decodeRevocation,
  parseSignedAgreement,
  type SignedRevocation,
} from './document.js';
import { AgreementError } from './errors.js';
import { AGREEMENT_TYP, REVOCATION_TYP } from './internal/header.js';
import { checkSignature, type SignatureCheck } from './internal/jws-verify.js';

/**
 * Why an agreement is not active. A reason is `CODE` or `CODE:subject` (a party, a kid, or
 * `signatures[i]` / `revocations[i]`); add new codes, never rename.
 */
export type StatusReasonCode =
  /** A party has no valid signature (`MISSING_SIGNATURE:RS`). */
  | 'MISSING_SIGNATURE'
  /** A signature by a partner that is neither party; it never counts (`SIGNED_BY_NON_PARTY:AL`). */
  | 'SIGNED_BY_NON_PARTY'
  /** A party signed more than once (`DUPLICATE_SIGNER:MK`). */
  | 'DUPLICATE_SIGNER'
  /** A signature that is not the WBX profile or does not verify (`BAD_SIGNATURE:<kid>`). */
  | 'BAD_SIGNATURE'
  /** The kid is not a key the manifest lists for its partner (`UNKNOWN_KEY:<kid>`). */
  | 'UNKNOWN_KEY'
  /** The key was not yet valid, expired or revoked when the signature was made (`KEY_…:<kid>`). */
  | 'KEY_NOT_YET_VALID'
  | 'KEY_EXPIRED'
  | 'KEY_REVOKED'
  /** The signature's `iat` is ahead of the verifier's clock by more than the allowed skew. */
  | 'SIGNED_IN_FUTURE'
  /** Before validFrom. */
  | 'NOT_YET_VALID'
  /** At or after validUntil. */
  | 'EXPIRED'
  /** A valid revocation by a party has taken effect (`REVOKED:RS`). */
  | 'REVOKED'
  /** A revocation that is malformed, for another agreement, by a non-party or not verified. */
  | 'BAD_REVOCATION';

/** The verdict on a signed agreement at an instant. */
export interface AgreementStatus {
  /** Both parties' valid signatures, inside its validity, not revoked, and nothing suspicious attached. */
  readonly active: boolean;
  /** Why not: empty exactly when active. */
  readonly reasons: readonly string[];
  readonly body: AgreementBody;
  /** The parties whose signature counts, provider first. */
  readonly signedBy: readonly string[];
  /** The earliest instant from which a valid revocation revokes it (possibly still ahead). */
  readonly revokedAt?: string;
}

function reasonOf(check: Exclude<SignatureCheck, { ok: true }>, index: number): string {
  if (check.problem === 'NOT_A_PARTY') return `SIGNED_BY_NON_PARTY:${check.party ?? '?'}`;
  return `${check.problem}:${check.kid ?? `signatures[${index}]`}`;
}

/** The earliest revokedAt of the valid revocations; a reason for each invalid one. */
function revocations(
  list: readonly SignedRevocation[],
  body: AgreementBody,
  manifest: ManifestBody,
  now: Date,
  reasons: string[],
): { revokedAt: string; by: string } | undefined {
  let earliest: { revokedAt: string; by: string; t: number } | undefined;
  list.forEach((revocation, i) => {
    const content = decodeRevocation(revocation);
    const [signature] = revocation.signatures;
    const parties = [body.provider, body.recipient];
    const check =
      content === undefined || signature === undefined || !parties.includes(content.by)
        ? undefined
        : checkSignature(revocation.payload, signature, REVOCATION_TYP, [content.by], manifest, now);
    if (content?.agreementId !== body.id || check?.ok !== true) {
      reasons.push(`BAD_REVOCATION:revocations[${i}]`);
      return;
    }
    const t = parseTimestamp(content.revokedAt) ?? 0;
    if (earliest === undefined || t < earliest.t) earliest = { ...content, t };
  });
  return earliest === undefined ? undefined : { revokedAt: earliest.revokedAt, by: earliest.by };
}

/**
 * Whether a signed agreement is active at `now` against the trusted manifest, and why not. Active only
 * when the provider and the recipient have each exactly one valid signature, made with a key the
 * manifest lists for them and valid when it was made (the header's `iat`); `now` is inside
 * [validFrom, validUntil); no valid revocation has taken effect; and nothing else is attached that does
 * not verify (a non-party's signature, a bad signature or revocation): deny by default.
 *
 * Throws MALFORMED_AGREEMENT (and the body's codes) when the document cannot be read at all,
 * INVALID_ARGUMENT for an invalid `now`.
 */
export function agreementStatus(signed: unknown, manifest: ManifestBody, now: Date): AgreementStatus {
  const t = now.getTime();
  if (Number.isNaN(t)) throw new AgreementError('INVALID_ARGUMENT', 'now: invalid date');
  const envelope = parseSignedAgreement(signed);
  const body = decodeAgreement(envelope);
  const parties = [body.provider, body.recipient];
  const reasons: string[] = [];
  const counted = new Set<string>();
  envelope.signatures.forEach((signature, i) => {
    const check = checkSignature(envelope.payload, signature, AGREEMENT_TYP, parties, manifest, now);
    if (!check.ok) reasons.push(reasonOf(check, i));
    else if (counted.has(check.party)) reasons.push(`DUPLICATE_SIGNER:${check.party}`);
    else counted.add(check.party);
  });
  for (const party of parties) if (!counted.has(party)) reasons.push(`MISSING_SIGNATURE:${party}`);
  if (t < (parseTimestamp(body.validFrom) ?? Infinity)) reasons.push('NOT_YET_VALID');
  if (t >= (parseTimestamp(body.validUntil) ?? -Infinity)) reasons.push('EXPIRED');
  const revoked = revocations(envelope.revocations ?? [], body, manifest, now, reasons);
  if (revoked !== undefined && t >= (parseTimestamp(revoked.revokedAt) ?? Infinity)) {
    reasons.push(`REVOKED:${revoked.by}`);
  }
  return {
    active: reasons.length === 0,
    reasons,
    body,
    signedBy: parties.filter((p) => counted.has(p)),
    ...(revoked === undefined ? {} : { revokedAt: revoked.revokedAt }),
  };
}
