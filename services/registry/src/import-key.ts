import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

import * as z from 'zod';

import type { PublicJwk } from './body.js';
import { RegistryError } from './errors.js';
import { ED25519_KEY_B64URL_RE } from './internal/ed25519-key.js';
import { issuePaths } from './internal/issues.js';
import { publicKeyObject } from './internal/key-index.js';
import { parseKid } from './internal/kid.js';

const jwkSchema = z.looseObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(ED25519_KEY_B64URL_RE, { error: 'must be 32 bytes, base64url' }),
  d: z.string().regex(ED25519_KEY_B64URL_RE, { error: 'must be 32 bytes, base64url' }).optional(),
  kid: z.string().refine((k) => parseKid(k) !== undefined, {
    error: 'must have the form <memberId>#<yyyy-mm-dd>-<n>',
  }),
});

function parseJwk(input: unknown, what: string): z.infer<typeof jwkSchema> {
  const result = jwkSchema.safeParse(input);
  if (!result.success) {
    const details = issuePaths(result.error.issues);
    throw new RegistryError('INVALID_KEY', `${what}: ${details.join('; ')}`, {
      cause: result.error,
      details,
    });
  }
  return result.data;
}

/** A member's public key file (Ed25519 JWK with kid): its kid and the bare public JWK for a manifest. */
export function importPublicJwk(input: unknown): { kid: string; memberId: string; jwk: PublicJwk } {
  const jwk = parseJwk(input, 'public JWK');
  if (jwk.d !== undefined)
    throw new RegistryError('INVALID_KEY', 'public JWK: contains private key material');
  const bare: PublicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  publicKeyObject(bare, jwk.kid);
  return { kid: jwk.kid, memberId: parseKid(jwk.kid)?.memberId ?? '', jwk: bare };
}

/** A member's private key file (Ed25519 JWK with d and kid): its kid and the private KeyObject. */
export function importPrivateJwk(input: unknown): { kid: string; memberId: string; key: KeyObject } {
  const jwk = parseJwk(input, 'private JWK');
  if (jwk.d === undefined) throw new RegistryError('INVALID_KEY', 'private JWK: no private key material (d)');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, format: 'jwk' });
  } catch (e) {
    throw new RegistryError('INVALID_KEY', 'private JWK: not a usable Ed25519 key', { cause: e });
  }
  if (createPublicKey(key).export({ format: 'jwk' }).x !== jwk.x) {
    throw new RegistryError('KEY_MISMATCH', 'private JWK: x is not the public part of d');
  }
  return { kid: jwk.kid, memberId: parseKid(jwk.kid)?.memberId ?? '', key };
}
