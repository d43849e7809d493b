/** Stable codes for every way a token can be refused. Tests and operators rely on them; never rename. */
export type SealErrorCode =
  | 'TOKEN_TOO_LARGE'
  | 'MALFORMED_TOKEN'
  | 'MALFORMED_HEADER'
  | 'MALFORMED_PAYLOAD'
  | 'MALFORMED_DISCLOSURE'
  | 'ALG_NOT_ALLOWED'
  | 'WRONG_TYP'
  | 'UNSUPPORTED_SD_ALG'
  | 'UNKNOWN_ISSUER'
  | 'UNKNOWN_KEY'
  | 'KEY_NOT_YET_VALID'
  | 'KEY_EXPIRED'
  | 'KEY_REVOKED'
  | 'BAD_SIGNATURE'
  | 'ISSUED_IN_FUTURE'
  | 'DUPLICATE_DISCLOSURE'
  | 'DUPLICATE_DIGEST'
  | 'UNREFERENCED_DISCLOSURE'
  | 'FORBIDDEN_CLAIM_NAME'
  | 'CLAIM_CONFLICT'
  | 'SCHEMA_VIOLATION'
  | 'UNKNOWN_PATH'
  | 'INVALID_EVENT'
  /** A reference binding that is not for this presentation, or whose references do not fit it. */
  | 'BAD_REF_BINDING';

/**
 * A refused token or a refused seal/disclose request. `message` is short and safe to show to a remote
 * caller; `detail` says exactly what was wrong, for the local log only.
 */
export class SealError extends Error {
  constructor(
    readonly code: SealErrorCode,
    message: string,
    readonly detail?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
