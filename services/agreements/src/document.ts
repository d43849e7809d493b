import { encodeBase64url, jsonFromBase64url, type GeneralJws, type JwsSignature } from '@wbx/jws';
import { isPartnerCode, parseTimestamp } from '@wbx/schema';

import { parseAgreementBody, type AgreementBody } from './body.js';
import { AgreementError } from './errors.js';
import { agreementEnvelopeSchema, revocationBodySchema } from './internal/envelope.js';
import { kidOwner, parseHeader, AGREEMENT_TYP } from './internal/header.js';
import { zodIssues } from './internal/zod-issues.js';

/** One signature; its protected header is `{"alg":"EdDSA","typ":"wbx-agreement+jws","kid":…,"iat":…}`. */
export type AgreementSignature = JwsSignature;

/** A revocation: `{ agreementId, revokedAt, by }` signed by one party (typ `wbx-revocation+jws`). */
export type SignedRevocation = GeneralJws;

/** An agreement as JWS General JSON Serialization (RFC 7515 §7.2.1), with revocations attached. */
export interface SignedAgreement extends GeneralJws {
  readonly revocations?: readonly SignedRevocation[];
}

/** What a revocation says: the agreement ends at `revokedAt`, at the request of party `by`. */
export interface RevocationBody {
  readonly agreementId: string;
  /** RFC 3339 UTC: the agreement is revoked from this instant on. */
  readonly revokedAt: string;
  /** The party that revokes (provider or recipient). */
  readonly by: string;
}

/** Checks the shape of a signed agreement (not its body, not its signatures). Throws MALFORMED_AGREEMENT. */
export function parseSignedAgreement(input: unknown): SignedAgreement {
  const result = agreementEnvelopeSchema.safeParse(input);
  if (!result.success) {
    const issues = zodIssues(result.error.issues);
    const details = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new AgreementError('MALFORMED_AGREEMENT', `malformed signed agreement: ${details}`, {
      issues,
      cause: result.error,
    });
  }
  return result.data;
}

/** Validates a body and wraps it as an agreement with no signatures yet. */
export function draftAgreement(body: unknown): SignedAgreement {
  const valid = parseAgreementBody(body);
  return { payload: encodeBase64url(JSON.stringify(valid)), signatures: [] };
}

/**
 * Decodes and validates the body of a signed agreement WITHOUT checking any signature; use
 * agreementStatus for that. Throws MALFORMED_AGREEMENT (or the body's UNKNOWN_PATH, SPECIAL_CATEGORY).
 */
export function decodeAgreement(signed: unknown): AgreementBody {
  const envelope = parseSignedAgreement(signed);
  const json = jsonFromBase64url(envelope.payload);
  if (json === undefined) {
    throw new AgreementError(
      'MALFORMED_AGREEMENT',
      'malformed signed agreement: payload is not base64url JSON',
      {
        issues: [{ path: 'payload', code: 'MALFORMED_AGREEMENT', message: 'not base64url of JSON' }],
      },
    );
  }
  return parseAgreementBody(json);
}

/** The body of a revocation, checked for form only (not its signature); undefined if malformed. */
export function decodeRevocation(revocation: SignedRevocation): RevocationBody | undefined {
  const result = revocationBodySchema.safeParse(jsonFromBase64url(revocation.payload));
  if (!result.success) return undefined;
  const { agreementId, revokedAt, by } = result.data;
  if (parseTimestamp(revokedAt) === undefined || !isPartnerCode(by)) return undefined;
  return { agreementId, revokedAt, by };
}

/** The parties named by the signatures' kids, in order, WITHOUT verifying anything ('?' if unreadable). */
export function signatureParties(signed: SignedAgreement): string[] {
  return signed.signatures.map((s) => {
    const header = parseHeader(s.protected, AGREEMENT_TYP);
    return typeof header === 'string' ? '?' : (kidOwner(header.kid) ?? '?');
  });
}

/** The kids of the signatures, in order, WITHOUT verifying anything ('?' if a header is unreadable). */
export function signatureKids(signed: SignedAgreement): string[] {
  return signed.signatures.map((s) => {
    const header = parseHeader(s.protected, AGREEMENT_TYP);
    return typeof header === 'string' ? '?' : header.kid;
  });
}
