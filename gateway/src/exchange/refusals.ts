import { randomUUID } from 'node:crypto';

import type { ServiceError } from '@grpc/grpc-js';

import { toServiceError } from '../grpc-errors.js';
import type { ExchangeContext, PeerCall } from './access.js';
import { ExchangeError } from './errors.js';

/**
 * What the audit entry of a refused call names, filled in as the call is identified and admitted: the
 * call, the caller (undefined until its certificate is matched to a member), the agreement and purpose
 * as the request names them.
 */
export interface CallScope {
  readonly rpc: string;
  caller: string | undefined;
  agreementId: string;
  purpose: string;
}

const AUDIT_TEXT = /^[\x20-\x7e]{1,64}$/;

/**
 * Logs a refused call in full and appends a `denied` entry to the audit chain: who (or UNKNOWN for an
 * unpinned certificate), which call, which agreement and purpose as named, and the reason.
 */
async function auditDenial(
  ctx: ExchangeContext,
  e: ExchangeError,
  scope: CallScope,
  peer: string,
): Promise<void> {
  const { rpc, caller, agreementId, purpose } = scope;
  const fields = { rpc, caller, peer, agreement: agreementId, purpose, reason: e.code, detail: e.detail };
  ctx.log.warn(fields, 'exchange call refused');
  await ctx.audit
    .append({
      recipient: scope.caller ?? 'UNKNOWN',
      agreementId: AUDIT_TEXT.test(scope.agreementId) ? scope.agreementId : '-',
      eventId: randomUUID(),
      eventType: `exchange.${scope.rpc.toLowerCase()}`,
      paths: [],
      mode: 'denied',
      ...(AUDIT_TEXT.test(scope.purpose) ? { purpose: scope.purpose } : {}),
      reason: e.code,
    })
    .catch((err: unknown) =>
      ctx.log.error({ err, reason: e.code }, 'auditing a refused exchange call failed'),
    );
}

/** How a call ended: its answer, or the status the caller gets. */
export type Settled<Res> =
  { readonly ok: true; readonly value: Res } | { readonly ok: false; readonly error: ServiceError };

/**
 * Runs the work of one Exchange call and settles its failure, the one place that does: a denial is
 * audited (once, with what the scope knew of the call when it was refused) and every error becomes the
 * status the caller gets. Never rejects.
 */
export async function settle<Res>(
  ctx: ExchangeContext,
  rpc: string,
  call: PeerCall & { readonly request: object },
  work: (scope: CallScope) => Res | Promise<Res>,
): Promise<Settled<Res>> {
  const named: { agreementId?: unknown; purpose?: unknown } = call.request;
  const scope: CallScope = {
    rpc,
    caller: undefined,
    agreementId: typeof named.agreementId === 'string' ? named.agreementId : '',
    purpose: typeof named.purpose === 'string' ? named.purpose : '',
  };
  try {
    return { ok: true, value: await work(scope) };
  } catch (e) {
    if (e instanceof ExchangeError && e.isDenial) await auditDenial(ctx, e, scope, call.getPeer());
    return { ok: false, error: toServiceError(e, ctx.log, { rpc, peer: call.getPeer() }) };
  }
}
