import * as z from 'zod';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'must be base64url' });

/** One entry of a JWS General JSON Serialization, protected header only (no unprotected `header`). */
export const signatureSchema = z.strictObject({ protected: b64url, signature: b64url });

/** A revocation: a JWS in general serialization with exactly one signature. */
export const revocationEnvelopeSchema = z.strictObject({
  payload: b64url,
  signatures: z.array(signatureSchema).length(1, { error: 'a revocation has exactly one signature' }),
});

/** A signed agreement: JWS General JSON Serialization plus the revocations attached to it. */
export const agreementEnvelopeSchema = z.strictObject({
  payload: b64url,
  signatures: z.array(signatureSchema),
  revocations: z.array(revocationEnvelopeSchema).optional(),
});

/** The signed content of a revocation. */
export const revocationBodySchema = z.strictObject({
  agreementId: z.string().min(1).max(64),
  revokedAt: z.string(),
  by: z.string(),
});
