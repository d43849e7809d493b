import type { Member } from './body.js';
import { generateSigningKey, type GeneratedSigningKey } from './generate-key.js';
import { createManifest, type SignedManifest } from './manifest.js';
import type { Role } from './roles.js';
import { signManifest } from './sign.js';

/** A founding member of a new federation. */
export interface Founder {
  readonly id: string;
  /** Display name; default: the id. */
  readonly name?: string;
  /** Default: origin and recipient. */
  readonly roles?: readonly Role[];
  /** SHA-256 pins (lowercase hex) of the member's TLS client certificates. */
  readonly tlsCertSha256?: readonly string[];
}

export interface FoundedFederation {
  /** Each founder's new signing key (private and public JWK, kid). */
  readonly keys: ReadonlyMap<string, GeneratedSigningKey>;
  /** Manifest version 1, listing every founder with its key, signed by all of them. */
  readonly manifest: SignedManifest;
}

/**
 * A new federation in one step, for demos, tests and benchmarks: a signing key for each founder (valid
 * from `since`), and the first manifest, issued at `since` with threshold `threshold`, signed by every
 * founder. (Ministries found a real federation with `wbx keys generate` and `wbx manifest init|sign`,
 * each key staying with its owner.)
 */
export async function foundFederation(
  founders: readonly Founder[],
  threshold: number,
  since: Date,
): Promise<FoundedFederation> {
  const keys = new Map(founders.map((f) => [f.id, generateSigningKey(f.id, since)]));
  const members: Member[] = founders.map((f) => {
    const key = keys.get(f.id) as GeneratedSigningKey;
    return {
      id: f.id,
      name: f.name ?? f.id,
      roles: [...(f.roles ?? ['origin', 'recipient'])],
      signingKeys: [
        {
          kid: key.kid,
          jwk: { kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x },
          notBefore: since.toISOString(),
        },
      ],
      tlsCertSha256: [...(f.tlsCertSha256 ?? [])],
    };
  });
  let manifest = createManifest({ version: 1, threshold, issuedAt: since.toISOString(), members });
  for (const key of keys.values()) manifest = await signManifest(manifest, key.privateJwk, key.kid);
  return { keys, manifest };
}
