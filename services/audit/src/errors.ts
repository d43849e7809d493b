/**
 * Stable error codes of the audit log. Operators and tests rely on these strings; add new ones, never
 * rename. (Broken chains are not errors: `verifyAuditChain` reports them as a result.)
 */
export type AuditErrorCode =
  /** A disclosure record (or an entry handed to a helper) does not have the required form. */
  | 'INVALID_RECORD'
  /** An option of `AuditLog.open` is outside its domain (origin, signer, checkpoint intervals, …). */
  | 'INVALID_OPTIONS'
  /** `append` or `checkpoint` after `close`. */
  | 'CLOSED'
  /** Another writer kept extending the chain; the append gave up after its retries. */
  | 'CONFLICT'
  /** The last entry in the stream cannot be read as an audit entry, so the chain cannot be continued. */
  | 'CORRUPT_HEAD'
  /** There is no `WBX_AUDIT` stream. */
  | 'STREAM_NOT_FOUND';

/** The one error type the audit package throws; branch on `code`, never on the message. */
export class AuditError extends Error {
  constructor(
    readonly code: AuditErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
