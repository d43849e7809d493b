import type { KeyObject } from 'node:crypto';

import { FlattenedSign } from 'jose';

import type { AgreementSignature } from '../document.js';
import { AgreementError } from '../errors.js';
import { decodeBase64url } from './base64url.js';
import { JWS_ALG, kidOwner, type JwsTyp } from './header.js';

/** Checks a signing key and kid; returns the party the kid belongs to. Throws INVALID_KEY, INVALID_ARGUMENT. */
export function signerOf(privateKey: KeyObject, kid: string, at: Date): string {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AgreementError('INVALID_KEY', 'the signing key must be an Ed25519 private key');
  }
  const owner = kidOwner(kid);
  if (owner === undefined) throw new AgreementError('INVALID_KEY', `kid must be <partner>#<key id>: ${kid}`);
  if (Number.isNaN(at.getTime())) throw new AgreementError('INVALID_ARGUMENT', 'at: invalid date');
  return owner;
}

/** One signature over `payload` (base64url) with the WBX protected header, `iat` = `at`. */
export async function signPayload(
  payload: string,
  typ: JwsTyp,
  privateKey: KeyObject,
  kid: string,
  at: Date,
): Promise<AgreementSignature> {
  const bytes = decodeBase64url(payload);
  if (bytes === undefined) throw new AgreementError('MALFORMED_AGREEMENT', 'payload is not base64url');
  const iat = Math.floor(at.getTime() / 1000);
  const jws = await new FlattenedSign(bytes)
    .setProtectedHeader({ alg: JWS_ALG, typ, kid, iat })
    .sign(privateKey);
  if (jws.protected === undefined || jws.payload !== payload)
    throw new Error('jose produced an unexpected JWS');
  return { protected: jws.protected, signature: jws.signature };
}
