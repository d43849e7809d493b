import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';

import { signJws } from '@wbx/jws';

import { RegistryError } from './errors.js';
import { keyIndex } from './internal/key-index.js';
import { parseKid } from './internal/kid.js';
import { MANIFEST_TYP } from './internal/protected-header.js';
import { decodeManifest, signatureKids, type SignedManifest } from './manifest.js';

/** An Ed25519 private key as a JWK (RFC 8037); `kid`, if present, must be the signing kid. */
export type PrivateJwk = {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly d: string;
  readonly kid?: string;
};

function toPrivateKey(input: KeyObject | PrivateJwk, kid: string): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private' || input.asymmetricKeyType !== 'ed25519') {
      throw new RegistryError('INVALID_KEY', 'the signing key must be an Ed25519 private key');
    }
    return input;
  }
  const jwk = input;
  if (jwk.kid !== undefined && jwk.kid !== kid) {
    throw new RegistryError('KEY_MISMATCH', `the JWK's kid ${jwk.kid} is not ${kid}`);
  }
  try {
    const key = createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, format: 'jwk' });
    if (key.asymmetricKeyType === 'ed25519') return key;
  } catch (e) {
    throw new RegistryError('INVALID_KEY', 'the signing key must be an Ed25519 private key', { cause: e });
  }
  throw new RegistryError('INVALID_KEY', 'the signing key must be an Ed25519 private key');
}

/**
 * Adds one signature by `kid` and returns a new signed manifest (the input is not changed).
 *
 * The kid need not be listed in this manifest (members of the previous version sign its successor), but
 * if it is, the key must be the one listed. Throws MALFORMED_MANIFEST, INVALID_ARGUMENT (a malformed
 * kid), INVALID_KEY, KEY_MISMATCH, DUPLICATE_SIGNER (this kid has signed already).
 */
export async function signManifest(
  signed: SignedManifest,
  privateKey: KeyObject | PrivateJwk,
  kid: string,
): Promise<SignedManifest> {
  const body = decodeManifest(signed);
  if (parseKid(kid) === undefined) {
    throw new RegistryError('INVALID_ARGUMENT', `kid must have the form <memberId>#<yyyy-mm-dd>-<n>: ${kid}`);
  }
  if (signatureKids(signed).includes(kid)) {
    throw new RegistryError('DUPLICATE_SIGNER', `${kid} has already signed this manifest`);
  }
  const key = toPrivateKey(privateKey, kid);
  const listed = keyIndex(body).keys.get(kid);
  if (listed !== undefined && createPublicKey(key).export({ format: 'jwk' }).x !== listed.key.jwk.x) {
    throw new RegistryError('KEY_MISMATCH', `the private key is not the key the manifest lists as ${kid}`);
  }
  const signature = await signJws(signed.payload, { typ: MANIFEST_TYP, kid }, key);
  return { payload: signed.payload, signatures: [...signed.signatures, signature] };
}
