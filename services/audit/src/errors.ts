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
  | 'STREAM_NOT_FOUND'
  /**
   * The stream no longer holds the chain this log wrote or opened: it was purged, truncated, or holds
   * entries that are not the origin's (no signed genesis checkpoint, junk, a forged checkpoint, a broken
   * hash link). The log refuses to start a new chain or continue a foreign one; it stays failed.
   */
  | 'CHAIN_BROKEN'
  /** The stream does not hold the signed checkpoint the anchor (kept outside the stream) names. */
  | 'ANCHOR_MISMATCH'
  /** An anchor (file) is not an audit anchor, or is another origin's. */
  | 'INVALID_ANCHOR'
  /** A read of the chain could not reach the last entry present when it started (no progress in time). */
  | 'READ_INCOMPLETE';

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
