import { createHash } from 'node:crypto';

import type { PeerCertificate } from 'node:tls';

import { inForce, isPurpose, type Purpose } from '@wbx/agreements';
import type { AuditSink } from '@wbx/audit';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import type { InactiveAgreement, LoadedAgreement } from '../agreement-set.js';
import { ExchangeError } from './errors.js';

/** What the Exchange handlers see of the gateway. */
export interface ExchangeContext {
  readonly partner: string;
  readonly manifest: () => ManifestBody;
  /** Agreements naming this partner, active when last loaded (the engine re-checks at the instant). */
  readonly agreements: () => readonly LoadedAgreement[];
  /** Agreements naming this partner that are not active, to say why a call names one. */
  readonly inactive: () => readonly InactiveAgreement[];
  /** The partner's audit log: refusals, Query pages and Match requests are recorded there. */
  readonly audit: AuditSink;
  readonly log: Logger;
  readonly now: () => Date;
}

/** What a server call tells of its peer (grpc-js calls of every kind). */
export interface PeerCall {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate };
  getPeer(): string;
}

/** SHA-256 of the DER certificate, lowercase hex: the form of manifest tlsCertSha256 pins. */
export function certificateSha256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * The member that is calling: the one whose manifest pins the SHA-256 of the client certificate. A
 * certificate the CA signed but no member pins is refused (CERT_NOT_PINNED).
 */
export function callerOf(call: PeerCall, manifest: ManifestBody): string {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (cert?.raw === undefined) {
    throw new ExchangeError(
      'CERT_NOT_PINNED',
      'client certificate not accepted',
      `no client certificate from ${call.getPeer()}`,
    );
  }
  const pin = certificateSha256(cert.raw);
  const member = manifest.members.find((m) => m.tlsCertSha256.includes(pin));
  if (member === undefined) {
    throw new ExchangeError(
      'CERT_NOT_PINNED',
      'client certificate not accepted',
      `certificate ${pin} (subject ${String(cert.subject.CN)}) from ${call.getPeer()} is pinned for no member`,
    );
  }
  return member.id;
}

/**
 * Who the caller must be: the agreement's recipient (Query, Match), the other party (readmission
 * requests), or this partner itself, one of the parties (answering a readmission request).
 */
export type CallerRole = 'recipient' | 'party' | 'self';

/**
 * The active agreement `agreementId` between the caller and this partner, in force now, naming
 * `purpose`. Every refusal says little (the code) to the caller and everything to the log.
 */
export function authorize(
  ctx: ExchangeContext,
  caller: string,
  agreementId: string,
  purpose: string,
  role: CallerRole,
): { agreement: LoadedAgreement; purpose: Purpose } {
  const fits = (b: { provider: string; recipient: string }): boolean =>
    role === 'recipient'
      ? b.provider === ctx.partner && b.recipient === caller
      : role === 'self'
        ? caller === ctx.partner && (b.provider === caller || b.recipient === caller)
        : (b.provider === ctx.partner && b.recipient === caller) ||
          (b.recipient === ctx.partner && b.provider === caller);
  const agreement = ctx.agreements().find((a) => a.body.id === agreementId);
  if (agreement === undefined || !fits(agreement.body)) {
    const inactive = ctx.inactive().find((a) => a.body.id === agreementId);
    if (inactive !== undefined && fits(inactive.body)) {
      throw new ExchangeError(
        'AGREEMENT_NOT_IN_FORCE',
        'the agreement is not in force',
        `agreement ${agreementId}: ${inactive.reasons.join(', ')}`,
      );
    }
    const detail =
      agreement === undefined
        ? `no agreement ${JSON.stringify(agreementId)} naming ${ctx.partner}`
        : `agreement ${agreementId} is between ${agreement.body.provider} and ${agreement.body.recipient}, not for ${caller} as ${role}`;
    throw new ExchangeError('UNKNOWN_AGREEMENT', 'no such agreement between you and this partner', detail);
  }
  if (!inForce(agreement, ctx.now().getTime())) {
    throw new ExchangeError(
      'AGREEMENT_NOT_IN_FORCE',
      'the agreement is not in force',
      `agreement ${agreementId} is outside its validity or revoked`,
    );
  }
  if (!isPurpose(purpose) || !agreement.body.purposes.includes(purpose)) {
    throw new ExchangeError(
      'PURPOSE_NOT_AGREED',
      'the agreement does not name this purpose',
      `purpose ${JSON.stringify(purpose)} is not among ${agreement.body.purposes.join(', ')} of ${agreementId}`,
    );
  }
  return { agreement, purpose };
}
