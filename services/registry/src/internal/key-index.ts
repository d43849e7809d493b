import { createPublicKey, type KeyObject } from 'node:crypto';

import type { ManifestBody, Member, PublicJwk, SigningKey } from '../body.js';
import { RegistryError } from '../errors.js';
import { keyWindow, type KeyWindow } from './time.js';

/** A signing key with what the hot path needs precomputed. */
export interface IndexedKey {
  readonly memberId: string;
  readonly key: SigningKey;
  readonly window: KeyWindow;
  readonly keyObject: KeyObject;
}

/** Members by id and keys by kid, built once per manifest object. */
export interface KeyIndex {
  readonly members: ReadonlyMap<string, Member>;
  readonly keys: ReadonlyMap<string, IndexedKey>;
}

/** Manifests are immutable (the registry returns them frozen), so an index per object stays valid. */
const cache = new WeakMap<ManifestBody, KeyIndex>();

export function publicKeyObject(jwk: PublicJwk, kid: string): KeyObject {
  try {
    return createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
  } catch (e) {
    throw new RegistryError('INVALID_KEY', `key ${kid} is not a usable Ed25519 public key`, { cause: e });
  }
}

export function keyIndex(manifest: ManifestBody): KeyIndex {
  let index = cache.get(manifest);
  if (index === undefined) {
    const members = new Map<string, Member>();
    const keys = new Map<string, IndexedKey>();
    for (const member of manifest.members) {
      members.set(member.id, member);
      for (const key of member.signingKeys) {
        keys.set(key.kid, {
          memberId: member.id,
          key,
          window: keyWindow(key),
          keyObject: publicKeyObject(key.jwk, key.kid),
        });
      }
    }
    index = { members, keys };
    cache.set(manifest, index);
  }
  return index;
}
