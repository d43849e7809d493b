import { status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { grpcError, toServiceError } from '../grpc-errors.js';

/** Why an Exchange call was refused; the ErrorInfo reason the caller gets. */
export type ExchangeErrorCode =
  | 'CERT_NOT_PINNED'
  | 'UNKNOWN_AGREEMENT'
  | 'AGREEMENT_NOT_IN_FORCE'
  | 'PURPOSE_NOT_AGREED'
  | 'NOT_PROVIDER'
  | 'TYPE_NOT_AGREED'
  | 'WHERE_FIELD_NOT_DISCLOSED'
  | 'TIME_BOUND_NOT_DISCLOSED'
  | 'NOT_A_PARTY'
  | 'INVALID_REQUEST'
  | 'BAD_RESUME_TOKEN'
  | 'TOO_MANY_REFS'
  | 'BAD_SEALED_REQUEST'
  | 'RATE_LIMITED'
  | 'UNKNOWN_REQUEST'
  | 'ALREADY_ANSWERED'
  | 'EXPIRED'
  | 'UNAVAILABLE';

const STATUS: Record<ExchangeErrorCode, status> = {
  CERT_NOT_PINNED: status.PERMISSION_DENIED,
  UNKNOWN_AGREEMENT: status.PERMISSION_DENIED,
  AGREEMENT_NOT_IN_FORCE: status.PERMISSION_DENIED,
  PURPOSE_NOT_AGREED: status.PERMISSION_DENIED,
  NOT_PROVIDER: status.PERMISSION_DENIED,
  TYPE_NOT_AGREED: status.PERMISSION_DENIED,
  WHERE_FIELD_NOT_DISCLOSED: status.PERMISSION_DENIED,
  TIME_BOUND_NOT_DISCLOSED: status.PERMISSION_DENIED,
  NOT_A_PARTY: status.PERMISSION_DENIED,
  INVALID_REQUEST: status.INVALID_ARGUMENT,
  BAD_RESUME_TOKEN: status.INVALID_ARGUMENT,
  TOO_MANY_REFS: status.INVALID_ARGUMENT,
  BAD_SEALED_REQUEST: status.INVALID_ARGUMENT,
  RATE_LIMITED: status.RESOURCE_EXHAUSTED,
  UNKNOWN_REQUEST: status.NOT_FOUND,
  ALREADY_ANSWERED: status.FAILED_PRECONDITION,
  EXPIRED: status.FAILED_PRECONDITION,
  UNAVAILABLE: status.UNAVAILABLE,
};

/**
 * A refused Exchange call. `message` is what the caller reads (little, for security refusals);
 * `detail` is what the log gets (everything); `violations` name fields of a malformed request.
 */
export class ExchangeError extends Error {
  /** Set once the refusal is in the audit chain, so that it is audited once. */
  audited = false;

  constructor(
    readonly code: ExchangeErrorCode,
    message: string,
    readonly detail: string = message,
    readonly violations: readonly { path: string; code: string; message: string }[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }

  get status(): status {
    return STATUS[this.code];
  }

  /** A refusal on grounds of access (identity, agreement, purpose, scope): audited as `denied`. */
  get isDenial(): boolean {
    return STATUS[this.code] === status.PERMISSION_DENIED;
  }
}

/** The gRPC status for an Exchange error (ErrorInfo reason = code); anything else is INTERNAL. */
export function exchangeServiceError(
  e: unknown,
  log: Logger,
  context: Record<string, unknown>,
): ServiceError {
  if (e instanceof ExchangeError) return grpcError(e.status, e.message, e.code, e.violations);
  return toServiceError(e, log, context);
}
