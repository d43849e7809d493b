import { sign, type KeyObject } from 'node:crypto';

import { encodeBase64url } from './base64url.js';
import type { JwsSignature } from './general.js';
import { JWS_ALG } from './header.js';

/** What a signer puts in the protected header besides `alg`. */
export interface SignerHeader {
  readonly typ: string;
  readonly kid: string;
  /** When it is signed, seconds since the epoch; only for documents whose profile has it. */
  readonly iat?: number;
}

/**
 * One signature over `payload` (base64url, as it stands in the document) with the protected header
 * `{alg: EdDSA, typ, kid[, iat]}`, signed off the main thread. `privateKey` must be an Ed25519 private
 * key; the caller checks it and the kid (a JWS says nothing about who may sign what).
 */
export async function signJws(
  payload: string,
  header: SignerHeader,
  privateKey: KeyObject,
): Promise<JwsSignature> {
  const { typ, kid, iat } = header;
  const protectedHeader = encodeBase64url(
    JSON.stringify(iat === undefined ? { alg: JWS_ALG, typ, kid } : { alg: JWS_ALG, typ, kid, iat }),
  );
  const input = Buffer.from(`${protectedHeader}.${payload}`, 'ascii');
  const signature = await new Promise<Buffer>((resolve, reject) => {
    sign(null, input, privateKey, (error, bytes) => {
      if (error === null) resolve(bytes);
      else reject(error);
    });
  });
  return { protected: protectedHeader, signature: encodeBase64url(signature) };
}
