import {
  createManifest,
  generateSigningKey,
  RegistryError,
  signManifest,
  type GeneratedSigningKey,
  type ManifestBody,
  type Member,
  type SignedManifest,
  type SigningKey,
} from '../src/index.js';

export const KEY_DAY = new Date('2026-01-05T00:00:00Z');
export const ISSUED_AT = '2026-01-10T00:00:00Z';

/** A member with one freshly generated key, and the key's private half for signing. */
export interface TestMember {
  readonly id: string;
  readonly key: GeneratedSigningKey;
  readonly member: Member;
}

export function signingKeyOf(key: GeneratedSigningKey, extra: Partial<SigningKey> = {}): SigningKey {
  const { kty, crv, x } = key.publicJwk;
  return { kid: key.kid, jwk: { kty, crv, x }, notBefore: '2026-01-01T00:00:00Z', ...extra };
}

export function testMember(id: string, existingKids: Iterable<string> = []): TestMember {
  const key = generateSigningKey(id, KEY_DAY, existingKids);
  return {
    id,
    key,
    member: {
      id,
      name: `Partner ${id}`,
      roles: ['origin', 'recipient'],
      signingKeys: [signingKeyOf(key)],
      tlsCertSha256: [],
    },
  };
}

export function body(members: readonly TestMember[], extra: Partial<ManifestBody> = {}): ManifestBody {
  return { version: 1, threshold: 2, issuedAt: ISSUED_AT, members: members.map((m) => m.member), ...extra };
}

/** Signs with each key in turn. */
export async function signBy(
  signed: SignedManifest,
  ...keys: readonly GeneratedSigningKey[]
): Promise<SignedManifest> {
  let out = signed;
  for (const k of keys) out = await signManifest(out, k.privateJwk, k.kid);
  return out;
}

export async function signedBody(
  b: ManifestBody,
  ...keys: readonly GeneratedSigningKey[]
): Promise<SignedManifest> {
  return signBy(createManifest(b), ...keys);
}

/** The RegistryError `fn` throws (fails the test if it throws nothing or something else). */
export function registryError(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RegistryError) return e;
    throw e;
  }
  throw new Error('expected a RegistryError, nothing was thrown');
}

export async function registryErrorAsync(fn: () => Promise<unknown>): Promise<RegistryError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof RegistryError) return e;
    throw e;
  }
  throw new Error('expected a RegistryError, nothing was thrown');
}
