import { parseTimestamp } from '@wbx/schema';

import type { AgreementBody, AggregateTerm } from './body.js';
import { specialCategoryAllows } from './internal/special-category.js';
import { matchesWhere } from './internal/where.js';
import { isRecordPath } from './paths.js';
import type { Purpose } from './purposes.js';

/**
 * An agreement that `agreementStatus` found active (its `body` and `revokedAt`; an AgreementStatus
 * fits). The engine re-checks validity and revocation at the instant it is asked about, so a list
 * loaded once stays safe to use until it is refreshed.
 */
export interface ActiveAgreement {
  readonly body: AgreementBody;
  readonly revokedAt?: string;
}

/** The event the engine decides about: its type, origin and body-level claims (persons included). */
export interface PolicyEvent {
  readonly type: string;
  readonly origin: string;
  /** occurredAt, recordedAt and the body fields; `persons` / `person` as objects of attributes. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** An aggregate term that covers the event: the recipient gets it only as counts. */
export interface AggregateGrant {
  /** The agreement's recipient, who receives the counts. */
  readonly recipient: string;
  readonly agreementId: string;
  /** The index of the term in the agreement. */
  readonly termIndex: number;
  readonly term: AggregateTerm;
}

/** What one recipient may receive of one event. */
export interface RecipientGrant {
  readonly recipient: string;
  /** The disclosure paths the recipient may see as a record, sorted; empty if none. */
  readonly paths: readonly string[];
  /** The agreements whose records terms granted `paths`, sorted. */
  readonly agreementIds: readonly string[];
  /** Aggregate terms that cover the event, in agreement order. */
  readonly aggregates: readonly AggregateGrant[];
}

/** Whether the agreement is in force at `t`: inside its validity and before any revocation. */
export function inForce(agreement: ActiveAgreement, t: number): boolean {
  const { validFrom, validUntil } = agreement.body;
  const revokedAt =
    agreement.revokedAt === undefined ? Infinity : (parseTimestamp(agreement.revokedAt) ?? -Infinity);
  return (
    t >= (parseTimestamp(validFrom) ?? Infinity) &&
    t < (parseTimestamp(validUntil) ?? -Infinity) &&
    t < revokedAt
  );
}

/**
 * The policy engine: for each recipient, what it may receive of `event` at `now` (optionally only for
 * `purpose`, for queries). Pure. Deny by default: a recipient appears only if an agreement in force
 * whose provider is the event's origin has a term for the event's type whose where-conditions the
 * event meets. Records terms add their fields (only those of the event's type); aggregate terms are
 * returned as such.
 */
export function evaluate(
  agreements: readonly ActiveAgreement[],
  event: PolicyEvent,
  purpose: Purpose | undefined,
  now: Date,
): ReadonlyMap<string, RecipientGrant> {
  const t = now.getTime();
  const byRecipient = new Map<
    string,
    { paths: Set<string>; ids: Set<string>; aggregates: AggregateGrant[] }
  >();
  for (const agreement of agreements) {
    const { body } = agreement;
    if (body.provider !== event.origin || !inForce(agreement, t)) continue;
    if (purpose !== undefined && !body.purposes.includes(purpose)) continue;
    body.terms.forEach((term, termIndex) => {
      if (!(term.types as readonly string[]).includes(event.type)) return;
      if (!matchesWhere(term.where, event.claims)) return;
      if (!specialCategoryAllows(body, term, event.type, purpose)) return;
      let grant = byRecipient.get(body.recipient);
      if (grant === undefined) {
        grant = { paths: new Set(), ids: new Set(), aggregates: [] };
        byRecipient.set(body.recipient, grant);
      }
      if (term.mode === 'aggregate') {
        grant.aggregates.push({ recipient: body.recipient, agreementId: body.id, termIndex, term });
        return;
      }
      const fields = term.fields.filter((f) => isRecordPath(event.type, f));
      for (const f of fields) grant.paths.add(f);
      if (fields.length > 0) grant.ids.add(body.id);
    });
  }
  const out = new Map<string, RecipientGrant>();
  for (const [recipient, g] of byRecipient) {
    if (g.paths.size === 0 && g.aggregates.length === 0) continue;
    out.set(recipient, {
      recipient,
      paths: [...g.paths].sort(),
      agreementIds: [...g.ids].sort(),
      aggregates: g.aggregates,
    });
  }
  return out;
}

/**
 * The disclosure paths `recipient` may receive of `event` as a record: what the sharer passes straight
 * to `disclose(token, paths)`. Empty means: share no record.
 */
export function disclosurePaths(
  agreements: readonly ActiveAgreement[],
  event: PolicyEvent,
  recipient: string,
  purpose: Purpose | undefined,
  now: Date,
): readonly string[] {
  return evaluate(agreements, event, purpose, now).get(recipient)?.paths ?? [];
}

/**
 * Query and Match: what the recipient of `agreement` may see of `event` for `purpose` at `now`, under
 * that agreement alone — the one a call names and that was admitted for its caller (the recipient) —
 * and not under any other agreement between the two. Undefined: nothing.
 */
export function grantUnder(
  agreement: ActiveAgreement,
  event: PolicyEvent,
  purpose: Purpose,
  now: Date,
): RecipientGrant | undefined {
  return evaluate([agreement], event, purpose, now).get(agreement.body.recipient);
}
