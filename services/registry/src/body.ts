import { RegistryError } from './errors.js';
import { manifestBodySchema } from './internal/body-schema.js';
import { deepFreeze } from './internal/freeze.js';
import { issuePaths } from './internal/issues.js';
import type { Role } from './roles.js';

/** An Ed25519 public key as a JWK (RFC 8037): public part only. */
export type PublicJwk = {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** The public key, 32 bytes, base64url without padding. */
  readonly x: string;
};

/** One signing key of a member and its validity window. */
export interface SigningKey {
  /** `<memberId>#<yyyy-mm-dd>-<n>`, e.g. `MK#2026-11-28-1`; unique in the manifest. */
  readonly kid: string;
  readonly jwk: PublicJwk;
  /** RFC 3339 UTC: first instant the key is valid. */
  readonly notBefore: string;
  /** RFC 3339 UTC: the key is valid strictly before this instant. */
  readonly notAfter?: string;
  /** RFC 3339 UTC: the key is invalid from this instant on. */
  readonly revokedAt?: string;
}

/** A member of the federation. */
export interface Member {
  /** Partner code (ISO 3166-1 alpha-2 or agency), e.g. `MK`. */
  readonly id: string;
  readonly name: string;
  readonly roles: readonly Role[];
  readonly signingKeys: readonly SigningKey[];
  /** The member's NATS endpoint, `nats://` or `tls://` URL. */
  readonly nats?: string;
  /** The member's gRPC Exchange endpoint, `host:port`. */
  readonly grpc?: string;
  /** SHA-256 fingerprints (64 lowercase hex) of the member's TLS certificates, for pinning. */
  readonly tlsCertSha256: readonly string[];
}

/** The signed content of the federation manifest. */
export interface ManifestBody {
  /** 1 for the root, +1 for each rotation. */
  readonly version: number;
  /** How many distinct members must sign (k of n). */
  readonly threshold: number;
  /** RFC 3339 UTC. */
  readonly issuedAt: string;
  readonly members: readonly Member[];
}

/**
 * Validates a manifest body and returns a deep-frozen copy without anything the schema does not know.
 * Throws MALFORMED_MANIFEST listing every issue as `path: message` in `details`.
 */
export function parseManifestBody(input: unknown): ManifestBody {
  const result = manifestBodySchema.safeParse(input);
  if (!result.success) {
    const details = issuePaths(result.error.issues);
    throw new RegistryError('MALFORMED_MANIFEST', `malformed manifest: ${details.join('; ')}`, {
      cause: result.error,
      details,
    });
  }
  return deepFreeze(result.data);
}
