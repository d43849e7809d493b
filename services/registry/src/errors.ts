/**
 * Stable error codes of the registry. Operators, tests and the gRPC boundary rely on these strings; add
 * new ones, never rename.
 */
export type RegistryErrorCode =
  /** The manifest (envelope or body) does not have the required form; `details` lists every issue. */
  | 'MALFORMED_MANIFEST'
  /** A signature does not verify, or its protected header is not the WBX manifest profile. */
  | 'BAD_SIGNATURE'
  /** Fewer distinct members signed than a threshold requires. */
  | 'INSUFFICIENT_SIGNATURES'
  /** A signature names a kid that no member of the relevant version(s) lists. */
  | 'UNKNOWN_SIGNER'
  /** Two signatures carry the same kid. */
  | 'DUPLICATE_SIGNER'
  /** The candidate's version is not newer than the trusted one. */
  | 'ROLLBACK'
  /** The candidate skips one or more versions. */
  | 'VERSION_GAP'
  /** The candidate (or a proposal) is issued before the version it replaces. */
  | 'ISSUED_AT_ROLLBACK'
  /** A threshold that is not an integer from 1 to the number of members able to sign. */
  | 'THRESHOLD_INVALID'
  /** The issuer is not a member of the manifest. */
  | 'UNKNOWN_ISSUER'
  /** The kid is not listed in the manifest. */
  | 'UNKNOWN_KEY'
  /** The key's notBefore is after the time of use. */
  | 'KEY_NOT_YET_VALID'
  /** The key's notAfter is at or before the time of use. */
  | 'KEY_EXPIRED'
  /** The key was revoked at or before the time of use. */
  | 'KEY_REVOKED'
  /** A kid names a key of another member, or a kid is bound to different key material. */
  | 'KEY_MISMATCH'
  /** A private key that is not a usable Ed25519 private key, or a public JWK carrying private material. */
  | 'INVALID_KEY'
  /** A proposal names a member that the manifest does not have. */
  | 'NOT_A_MEMBER'
  /** A proposal would add a member that already exists. */
  | 'ALREADY_A_MEMBER'
  /** An argument outside its domain (an invalid date, a non-partner code, …). */
  | 'INVALID_ARGUMENT';

export interface RegistryErrorOptions extends ErrorOptions {
  /** Every individual problem, e.g. each zod issue as `path: message`. */
  readonly details?: readonly string[];
}

/** The one error type the registry throws; branch on `code`, never on the message. */
export class RegistryError extends Error {
  readonly details: readonly string[];

  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: RegistryErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.details = options?.details ?? [];
  }
}
