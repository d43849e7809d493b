import * as z from 'zod';

/** One signature of a JWS General JSON Serialization, protected header only (no unprotected `header`). */
export interface JwsSignature {
  /** base64url of the protected header, `{"alg":"EdDSA","typ":…,"kid":…}` (and `iat` where allowed). */
  readonly protected: string;
  /** base64url of the 64-byte Ed25519 signature. */
  readonly signature: string;
}

/** A JWS in General JSON Serialization (RFC 7515 §7.2.1): one payload, any number of signatures. */
export interface GeneralJws {
  /** base64url of the signed content. */
  readonly payload: string;
  readonly signatures: readonly JwsSignature[];
}

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'must be base64url' });

/** The shape of one signature: exactly `protected` and `signature`, both base64url. */
export const jwsSignatureSchema = z.strictObject({ protected: b64url, signature: b64url });

/**
 * The shape of a General JSON Serialization as WBX uses it: exactly `payload` and `signatures`. A document
 * that carries more (an agreement's revocations) extends it.
 */
export const generalJwsSchema = z.strictObject({
  payload: b64url,
  signatures: z.array(jwsSignatureSchema),
});
