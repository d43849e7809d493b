import type { KeyObject } from 'node:crypto';

import { decodeBase64url, signJws } from '@wbx/jws';

import type { AgreementSignature } from '../document.js';
import { AgreementError } from '../errors.js';
import { kidOwner, type JwsTyp } from './header.js';

/**
 * Checks a signing key and kid; returns the party the kid belongs to. Throws INVALID_KEY, INVALID_ARGUMENT.
 */
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
  if (decodeBase64url(payload) === undefined) {
    throw new AgreementError('MALFORMED_AGREEMENT', 'payload is not base64url');
  }
  return signJws(payload, { typ, kid, iat: Math.floor(at.getTime() / 1000) }, privateKey);
}
