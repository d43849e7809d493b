import type { KeyObject } from 'node:crypto';

import type { ManifestBody, PublicJwk } from './body.js';
import { RegistryError } from './errors.js';
import { keyIndex } from './internal/key-index.js';
import { keyStatusAt } from './internal/time.js';

/**
 * The public key `kid` of member `iss`, if it may be used at `at`. On the verify hot path: key objects
 * and validity windows are computed once per manifest object.
 *
 * Throws UNKNOWN_ISSUER, UNKNOWN_KEY, KEY_MISMATCH (the kid belongs to another member),
 * KEY_NOT_YET_VALID, KEY_EXPIRED, KEY_REVOKED, INVALID_ARGUMENT (an invalid date).
 */
export function resolveSigningKey(manifest: ManifestBody, iss: string, kid: string, at: Date): KeyObject {
  const t = at.getTime();
  if (Number.isNaN(t)) throw new RegistryError('INVALID_ARGUMENT', 'at: invalid date');
  const index = keyIndex(manifest);
  if (!index.members.has(iss)) throw new RegistryError('UNKNOWN_ISSUER', 'issuer is not a federation member');
  const entry = index.keys.get(kid);
  if (entry === undefined) throw new RegistryError('UNKNOWN_KEY', 'key is not in the manifest');
  if (entry.memberId !== iss) throw new RegistryError('KEY_MISMATCH', 'key belongs to another member');
  const status = keyStatusAt(entry.window, t);
  if (status !== 'VALID') throw new RegistryError(status, `key is not valid at ${at.toISOString()}`);
  return entry.keyObject;
}

/** A manifest key as published in a JWKS. */
export type ManifestJwk = PublicJwk & {
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
};

/** A JSON Web Key Set (RFC 7517 §5). */
export interface ManifestJwks {
  readonly keys: readonly ManifestJwk[];
}

/**
 * Every member key of the manifest as a JWKS, including expired and revoked ones (they still verify
 * what was signed before); the manifest, not the JWKS, says when a key may be used.
 */
export function manifestJwks(manifest: ManifestBody): ManifestJwks {
  return {
    keys: manifest.members.flatMap((m) =>
      m.signingKeys.map((k) => ({
        kty: k.jwk.kty,
        crv: k.jwk.crv,
        x: k.jwk.x,
        kid: k.kid,
        alg: 'EdDSA' as const,
        use: 'sig' as const,
      })),
    ),
  };
}
