import { status, type ServiceError } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, Status } from '@wbx/proto';

/** The `google.rpc.ErrorInfo` domain of every WBX error. */
export const ERROR_DOMAIN = 'wbx.eu';

/** A field of the request that was refused, from `google.rpc.BadRequest`. */
export interface FieldViolation {
  readonly field: string;
  readonly reason: string;
  readonly description: string;
}

/** What a gRPC error's `google.rpc.Status` details say: the ErrorInfo reason and the field violations. */
export interface StatusDetails {
  readonly reason?: string;
  readonly violations: FieldViolation[];
}

/** Whether `e` is the error of a gRPC call (it has a numeric status code and metadata). */
export function isServiceError(e: unknown): e is ServiceError {
  const se = e as Partial<ServiceError> | null;
  return e instanceof Error && typeof se?.code === 'number' && se.metadata !== undefined;
}

/** Reads the google.rpc.Status details of a gRPC error (for clients and tests). */
export function statusDetails(e: ServiceError): StatusDetails {
  const raw = e.metadata.get('grpc-status-details-bin')[0];
  if (raw === undefined) return { violations: [] };
  const st = Status.decode(typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw);
  let reason: string | undefined;
  const violations: FieldViolation[] = [];
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

/**
 * The code that names a gRPC error: its ErrorInfo reason (e.g. PURPOSE_NOT_AGREED), or, for a status
 * without one (the transport's, or a server that is not a WBX gateway), the status's own name (e.g.
 * DEADLINE_EXCEEDED, UNAVAILABLE).
 */
export function statusReason(e: ServiceError): string {
  return statusDetails(e).reason ?? status[e.code];
}
