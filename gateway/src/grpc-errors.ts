import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, Status, type Any } from '@wbx/proto';
import type { Logger } from 'pino';

import { IngestError } from './ingest-pipeline.js';

export const ERROR_DOMAIN = 'wbx.eu';

function any(typeName: string, value: Uint8Array): Any {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) };
}

/** A gRPC error with google.rpc.Status details (ErrorInfo with the reason, BadRequest if given). */
export function grpcError(
  code: status,
  message: string,
  reason: string,
  violations: readonly { path: string; code: string; message: string }[] = [],
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

const INGEST_STATUS: Record<IngestError['code'], status> = {
  INVALID_EVENT: status.INVALID_ARGUMENT,
  MALFORMED_MESSAGE: status.INVALID_ARGUMENT,
  EVENT_ID_CONFLICT: status.ALREADY_EXISTS,
  UNAVAILABLE: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
};

/**
 * The one place where the gateway's errors become gRPC statuses. Domain errors keep their code as the
 * ErrorInfo reason; anything unexpected is logged in full and answered with a bare INTERNAL.
 */
export function toServiceError(e: unknown, log: Logger, context: Record<string, unknown> = {}): ServiceError {
  if (e instanceof IngestError) return grpcError(INGEST_STATUS[e.code], e.message, e.code, e.violations);
  log.error({ err: e, ...context }, 'unexpected error in a gRPC call');
  return grpcError(status.INTERNAL, 'internal error', 'INTERNAL');
}

/** Reads the google.rpc.Status details of a gRPC error (for clients and tests). */
export function statusDetails(e: ServiceError): {
  reason?: string;
  violations: { field: string; reason: string; description: string }[];
} {
  const raw = e.metadata.get('grpc-status-details-bin')[0];
  if (raw === undefined) return { violations: [] };
  const st = Status.decode(typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw);
  let reason: string | undefined;
  const violations: { field: string; reason: string; description: string }[] = [];
  for (const d of st.details) {
    if (d.typeUrl.endsWith('/google.rpc.ErrorInfo')) reason = ErrorInfo.decode(d.value).reason;
    if (d.typeUrl.endsWith('/google.rpc.BadRequest')) {
      for (const v of BadRequest.decode(d.value).fieldViolations) {
        violations.push({ field: v.field, reason: v.reason, description: v.description });
      }
    }
  }
  return { ...(reason === undefined ? {} : { reason }), violations };
}
