// The one place where the gateway's errors become gRPC statuses (Ingest and Exchange alike) and
// SubmitStream rejections. Clients read them back with grpc-status-details.ts.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, Status, type Any, type SubmitResult } from '@wbx/proto';
import type { Logger } from 'pino';

import { ExchangeError, type ExchangeErrorCode } from './exchange/errors.js';
import { ERROR_DOMAIN } from './grpc-status-details.js';
import { IngestError, type IngestErrorCode } from './ingest-pipeline.js';

/** The gRPC status of each Ingest error code. */
export const INGEST_STATUS: Readonly<Record<IngestErrorCode, status>> = {
  INVALID_EVENT: status.INVALID_ARGUMENT,
  MALFORMED_MESSAGE: status.INVALID_ARGUMENT,
  EVENT_ID_CONFLICT: status.ALREADY_EXISTS,
  UNAVAILABLE: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
};

/** The gRPC status of each Exchange error code. */
export const EXCHANGE_STATUS: Readonly<Record<ExchangeErrorCode, status>> = {
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

/** A field of a refused request, as the domain errors name it. */
interface Violation {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

function any(typeName: string, value: Uint8Array): Any {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) };
}

/** A gRPC error with google.rpc.Status details (ErrorInfo with the reason, BadRequest if given). */
export function grpcError(
  code: status,
  message: string,
  reason: string,
  violations: readonly Violation[] = [],
): ServiceError {
  const details = [
    any('google.rpc.ErrorInfo', ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata: {} }).finish()),
  ];
  if (violations.length > 0) {
    const badRequest = BadRequest.encode({
      fieldViolations: violations.map((v) => ({ field: v.path, description: v.message, reason: v.code })),
    }).finish();
    details.push(any('google.rpc.BadRequest', badRequest));
  }
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(Status.encode({ code, message, details }).finish()));
  return Object.assign(new Error(message), { code, details: message, metadata });
}

/**
 * The status a call fails with. Domain errors (Ingest, Exchange) keep their code as the ErrorInfo reason
 * and their message; anything unexpected is logged in full and answered with a bare INTERNAL that
 * echoes nothing of it.
 */
export function toServiceError(e: unknown, log: Logger, context: Record<string, unknown> = {}): ServiceError {
  if (e instanceof IngestError) return grpcError(INGEST_STATUS[e.code], e.message, e.code, e.violations);
  if (e instanceof ExchangeError) return grpcError(EXCHANGE_STATUS[e.code], e.message, e.code, e.violations);
  log.error({ err: e, ...context }, 'unexpected error in a gRPC call');
  return grpcError(status.INTERNAL, 'internal error', 'INTERNAL');
}

/**
 * The rejection of one event of a SubmitStream (the stream goes on): an Ingest error with its code,
 * message and violations; anything unexpected is logged and answered as INTERNAL.
 */
export function toRejection(
  e: unknown,
  log: Logger,
  context: Record<string, unknown> = {},
): NonNullable<SubmitResult['rejection']> {
  if (e instanceof IngestError) {
    return { code: e.code, message: e.message, violations: e.violations.map((v) => ({ ...v })) };
  }
  log.error({ err: e, ...context }, 'unexpected error in SubmitStream');
  return { code: 'INTERNAL', message: 'internal error', violations: [] };
}
