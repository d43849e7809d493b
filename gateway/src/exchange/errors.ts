/**
 * The refusals of an Exchange call: on grounds of access (identity, agreement, purpose, scope), a
 * malformed or rate-limited request, or a readmission case that does not allow the call. Every one is a
 * denial: audited as a `denied` entry with its code as the reason (README, "Exchange").
 */
export const EXCHANGE_DENIALS = [
  'CERT_NOT_PINNED',
  'UNKNOWN_AGREEMENT',
  'AGREEMENT_NOT_IN_FORCE',
  'PURPOSE_NOT_AGREED',
  'NOT_PROVIDER',
  'TYPE_NOT_AGREED',
  'WHERE_FIELD_NOT_DISCLOSED',
  'TIME_BOUND_NOT_DISCLOSED',
  'NOT_A_PARTY',
  'INVALID_REQUEST',
  'BAD_RESUME_TOKEN',
  'TOO_MANY_REFS',
  'BAD_SEALED_REQUEST',
  'RATE_LIMITED',
  'UNKNOWN_REQUEST',
  'ALREADY_ANSWERED',
  'EXPIRED',
] as const;

export type ExchangeDenialCode = (typeof EXCHANGE_DENIALS)[number];

/**
 * Why an Exchange call failed; the ErrorInfo reason the caller gets. A denial, or UNAVAILABLE: the
 * gateway could not serve the call (nothing was refused, nothing is audited).
 */
export type ExchangeErrorCode = ExchangeDenialCode | 'UNAVAILABLE';

const DENIALS: ReadonlySet<ExchangeErrorCode> = new Set(EXCHANGE_DENIALS);

/**
 * A refused Exchange call. `message` is what the caller reads (little, for security refusals);
 * `detail` is what the log gets (everything); `violations` name fields of a malformed request.
 */
export class ExchangeError extends Error {
  constructor(
    readonly code: ExchangeErrorCode,
    message: string,
    readonly detail: string = message,
    readonly violations: readonly { path: string; code: string; message: string }[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** A refusal of the call (one of {@link EXCHANGE_DENIALS}): audited as `denied`. */
  get isDenial(): boolean {
    return DENIALS.has(this.code);
  }
}
