import { generateKeyPairSync } from 'node:crypto';

import { isPartnerCode } from '@wbx/schema';

import type { PublicJwk } from './body.js';
import { RegistryError } from './errors.js';
import { formatKid, parseKid } from './internal/kid.js';

/** An Ed25519 public JWK with its kid, as written to `<member>.public.jwk`. */
export type PublicSigningJwk = PublicJwk & {
  readonly kid: string;
};

/** An Ed25519 private JWK with its kid, as written to `<member>.private.jwk`. Keep it secret. */
export type PrivateSigningJwk = PublicSigningJwk & {
  /** The private key, 32 bytes, base64url. */
  readonly d: string;
};

export interface GeneratedSigningKey {
  readonly kid: string;
  readonly privateJwk: PrivateSigningJwk;
  readonly publicJwk: PublicSigningJwk;
}

/**
 * A fresh Ed25519 key for `memberId`, with kid `<memberId>#<yyyy-mm-dd>-<n>` (UTC day of `date`; n is one
 * more than the highest n among `existingKids` for that member and day, else 1).
 */
export function generateSigningKey(
  memberId: string,
  date: Date,
  existingKids: Iterable<string> = [],
): GeneratedSigningKey {
  if (!isPartnerCode(memberId)) {
    throw new RegistryError('INVALID_ARGUMENT', `not a WBX partner code: ${memberId}`);
  }
  if (Number.isNaN(date.getTime())) throw new RegistryError('INVALID_ARGUMENT', 'date: invalid date');
  const day = date.toISOString().slice(0, 10);
  let highest = 0;
  for (const existing of existingKids) {
    const parts = parseKid(existing);
    if (parts?.memberId === memberId && parts.day === day) highest = Math.max(highest, parts.n);
  }
  const kid = formatKid({ memberId, day, n: highest + 1 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const { x, d } = privateKey.export({ format: 'jwk' });
  if (x === undefined || d === undefined) throw new Error('Ed25519 JWK export without x or d');
  const publicJwk: PublicSigningJwk = { kty: 'OKP', crv: 'Ed25519', x, kid };
  return { kid, privateJwk: { ...publicJwk, d }, publicJwk };
}
