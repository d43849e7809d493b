import { evaluate, inForce, type ActiveAgreement, type PolicyEvent, type RecipientGrant } from './policy.js';
import { checkReceived, type ReceivedPresentation, type ReceiveVerdict } from './receive.js';

/** A recipient of the partner's events, and how long the recipient's share stream keeps them. */
export interface RecipientRetention {
  readonly recipient: string;
  /** The longest `retentionDays` of the terms of its agreements in force. */
  readonly retentionDays: number;
}

/**
 * One partner's policy: what its node decides by, over the agreements naming it that are active (as
 * loaded: every decision re-checks validity and revocation at its instant, so a policy stays safe to
 * use until a newer one replaces it). Immutable and pure; deny by default — without agreements nothing
 * is shared and nothing received is kept. Query and Match decide under the one agreement a call names:
 * see `grantUnder`.
 */
export interface PartnerPolicy<A extends ActiveAgreement = ActiveAgreement> {
  readonly partner: string;
  /** The agreements it decides by, in both roles, as given. */
  readonly agreements: readonly A[];
  /**
   * Sharing: per recipient, what it may receive of `event` (one of the partner's own) at `now`, under
   * every agreement in which the partner provides to it. Only recipients with something to receive.
   */
  grants(event: PolicyEvent, now: Date): readonly RecipientGrant[];
  /**
   * Sharing: every recipient of an agreement in force at `now` in which the partner provides, with the
   * longest retention of its terms (how long the recipient's share stream keeps events).
   */
  recipients(now: Date): readonly RecipientRetention[];
  /**
   * Receiving: whether the partner may keep a verified presentation shared with it, under the
   * agreements in which it is the recipient (see `checkReceived`).
   */
  check(presentation: ReceivedPresentation): ReceiveVerdict;
}

/** The policy of `partner` over `agreements` (those naming it, active now). */
export function partnerPolicy<A extends ActiveAgreement>(
  partner: string,
  agreements: readonly A[],
): PartnerPolicy<A> {
  const provided = agreements.filter((a) => a.body.provider === partner);
  return Object.freeze({
    partner,
    agreements,
    grants: (event: PolicyEvent, now: Date): RecipientGrant[] => [
      ...evaluate(provided, event, undefined, now).values(),
    ],
    recipients(now: Date): RecipientRetention[] {
      const retention = new Map<string, number>();
      for (const a of provided) {
        if (!inForce(a, now.getTime())) continue;
        const days = Math.max(...a.body.terms.map((t) => t.retentionDays));
        retention.set(a.body.recipient, Math.max(retention.get(a.body.recipient) ?? 0, days));
      }
      return [...retention].map(([recipient, retentionDays]) => ({ recipient, retentionDays }));
    },
    check: (presentation: ReceivedPresentation): ReceiveVerdict =>
      checkReceived(agreements, partner, presentation),
  });
}
