/** Why the analytics node refused a request or could not do something. Add new codes, never rename. */
export type AnalyticsErrorCode =
  /** Figures of different units (persons, detections, …) were to be added up. */
  | 'UNIT_MISMATCH'
  /** A query, filter or option is malformed. */
  | 'INVALID_ARGUMENT'
  /** The API is bound beyond loopback without a bearer token. */
  | 'TOKEN_REQUIRED'
  /** A request without the bearer token (or with another one). */
  | 'UNAUTHORIZED'
  /** What was asked for is not in the store. */
  | 'NOT_FOUND'
  /** The store cannot be opened, read or written. */
  | 'STORE';

export class AnalyticsError extends Error {
  constructor(
    readonly code: AnalyticsErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
