import { generalJwsSchema, jwsSignatureSchema } from '@wbx/jws';
import * as z from 'zod';

/** A revocation: a JWS in general serialization with exactly one signature. */
export const revocationEnvelopeSchema = generalJwsSchema.extend({
  signatures: z.array(jwsSignatureSchema).length(1, { error: 'a revocation has exactly one signature' }),
});

/** A signed agreement: JWS General JSON Serialization plus the revocations attached to it. */
export const agreementEnvelopeSchema = generalJwsSchema.extend({
  revocations: z.array(revocationEnvelopeSchema).optional(),
});

/** The signed content of a revocation. */
export const revocationBodySchema = z.strictObject({
  agreementId: z.string().min(1).max(64),
  revokedAt: z.string(),
  by: z.string(),
});
