import type { KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Member } from './body.js';
import { generateSigningKey, type GeneratedSigningKey } from './generate-key.js';
import { importPrivateJwk } from './import-key.js';
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

/** A founded federation written to a directory, as the demo, tests and benchmarks use it. */
export interface FederationFiles {
  readonly dir: string;
  /** `DIR/manifest.json`: the signed manifest. */
  readonly manifestFile: string;
  /** `DIR/keys/<member>.private.jwk` (mode 0600); `<member>.public.jwk` lies beside it. */
  keyFile(member: string): string;
  /** A member's private signing key, as a signer takes it. */
  key(member: string): { readonly kid: string; readonly key: KeyObject };
}

/**
 * Writes a founded federation under `dir`: each member's key pair as JWK files (`keys/<member>.private.jwk`
 * and `.public.jwk`, the names `wbx keys generate` uses) and the signed manifest (`manifest.json`).
 */
export async function writeFederation(dir: string, founded: FoundedFederation): Promise<FederationFiles> {
  const keyDir = join(dir, 'keys');
  await mkdir(keyDir, { recursive: true });
  for (const [id, key] of founded.keys) {
    await writeFile(join(keyDir, `${id}.private.jwk`), JSON.stringify(key.privateJwk), { mode: 0o600 });
    await writeFile(join(keyDir, `${id}.public.jwk`), JSON.stringify(key.publicJwk));
  }
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(founded.manifest, null, 2));
  return {
    dir,
    manifestFile,
    keyFile: (member) => join(keyDir, `${member}.private.jwk`),
    key(member) {
      const generated = founded.keys.get(member);
      if (generated === undefined) throw new Error(`${member} is not a founder of this federation`);
      const { kid, key } = importPrivateJwk(generated.privateJwk);
      return { kid, key };
    },
  };
}
