import { verify, type KeyObject } from 'node:crypto';

import { decodeBase64url } from './base64url.js';
import type { JwsSignature } from './general.js';

/** `VALID`; `MALFORMED`: not a 64-byte Ed25519 signature in base64url; `INVALID`: it does not verify. */
export type SignatureVerdict = 'VALID' | 'MALFORMED' | 'INVALID';

/**
 * Verifies one signature over `payload` (base64url) with an Ed25519 public key: the signature alone, not
 * its header (see parseProtectedHeader) nor whether the key may sign (the caller's trust decision).
 */
export function verifyJws(payload: string, signature: JwsSignature, publicKey: KeyObject): SignatureVerdict {
  const bytes = decodeBase64url(signature.signature);
  if (bytes?.length !== 64) return 'MALFORMED';
  const input = Buffer.from(`${signature.protected}.${payload}`, 'ascii');
  return verify(null, input, publicKey, bytes) ? 'VALID' : 'INVALID';
}
