import { isAllowed } from '@wbx/seal';

import type { AggregateTerm, Period, Where } from './body.js';
import { specialCategoryAllows } from './internal/special-category.js';
import { isRecordPath } from './paths.js';
import { inForce, type ActiveAgreement } from './policy.js';

/**
 * Why a verified presentation is not stored: it is beyond every agreement the recipient holds with its
 * origin. Add new codes, never rename (they are the quarantine's `Wbx-Error-Code`).
 */
export type ReceiveRefusalCode =
  /** The recipient holds no agreement (active now) in which the origin provides to it. */
  | 'NO_AGREEMENT'
  /** No term of those agreements covers the type (as records; for `stats.aggregate`, its source type). */
  | 'NOT_AGREED_TYPE'
  /** Terms cover the type, but no agreement of theirs was in force at the token's `iat`. */
  | 'NO_AGREEMENT_AT_IAT'
  /** A disclosed value is outside the where-conditions of every term that covers the type. */
  | 'OUTSIDE_AGREED_WHERE'
  /** A disclosed path that none of the covering records terms lists. */
  | 'FIELDS_BEYOND_AGREEMENT'
  /** A `stats.aggregate` whose dimensions, period, minCell or cells no covering aggregate term allows. */
  | 'AGGREGATE_BEYOND_AGREEMENT'
  /** Subject references keyed for an agreement that is not one of those covering the presentation. */
  | 'REF_AGREEMENT_NOT_HELD';

/** A verified presentation as the receiver checks it against its agreements. */
export interface ReceivedPresentation {
  readonly origin: string;
  readonly type: string;
  /** The issuer JWT's `iat`, in seconds. */
  readonly iat: number;
  /** The verified claims (at least the body-level ones the terms test: where fields, aggregate fields). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The disclosed paths (`routeSegment`, `persons`, `persons.citizenship`, …). */
  readonly disclosed: readonly string[];
  /** The agreement the origin keyed the subject references for (its reference binding), if any. */
  readonly refAgreement?: string;
}

export type ReceiveVerdict =
  | { readonly ok: true; readonly agreementIds: readonly string[] }
  | { readonly ok: false; readonly code: ReceiveRefusalCode; readonly detail: string };

export const AGGREGATE_TYPE = 'stats.aggregate';

/** The claims of a presentation that `checkReceived` reads besides the always-visible ones. */
export const AGGREGATE_CLAIMS = ['period', 'sourceType', 'dimensions', 'minCell', 'cells'] as const;

const PERIOD_FORMAT: Readonly<Record<Period, RegExp>> = {
  day: /^\d{4}-\d{2}-\d{2}$/,
  week: /^\d{4}-W\d{2}$/,
  month: /^\d{4}-\d{2}$/,
};

function refuse(code: ReceiveRefusalCode, detail: string): ReceiveVerdict {
  return { ok: false, code, detail };
}

/**
 * The where-conditions, as far as the recipient can tell: a disclosed value must be one of the listed
 * ones; a field that was withheld cannot be checked here (the origin applied the condition when sharing).
 */
function whereAllows(where: Where | undefined, claims: Readonly<Record<string, unknown>>): boolean {
  if (where === undefined) return true;
  for (const [field, values] of Object.entries(where)) {
    if (!Object.hasOwn(claims, field)) continue;
    const value = claims[field];
    if (!values.some((v) => v === value)) return false;
  }
  return true;
}

/** Why an aggregate does not fit the term, or undefined when it fits. */
function aggregateMisfit(term: AggregateTerm, claims: Readonly<Record<string, unknown>>): string | undefined {
  const { dimensions, minCell, cells, period } = claims;
  if (
    !Array.isArray(dimensions) ||
    dimensions.length !== term.dimensions.length ||
    dimensions.some((d, i) => d !== term.dimensions[i])
  ) {
    return `dimensions are not the term's (${term.dimensions.join(', ')})`;
  }
  if (typeof period !== 'string' || !PERIOD_FORMAT[term.period].test(period)) {
    return `period is not a ${term.period}`;
  }
  if (typeof minCell !== 'number' || minCell < term.minCell)
    return `minCell below the term's ${term.minCell}`;
  if (!Array.isArray(cells)) return 'no cells';
  const small = (cells as unknown[]).filter((c) => {
    const cell = c as { suppressed?: unknown; count?: unknown };
    return cell.suppressed !== true && (typeof cell.count !== 'number' || cell.count < term.minCell);
  });
  if (small.length > 0) return `${small.length} cell(s) below the term's minCell not suppressed`;
  return undefined;
}

/**
 * Whether `recipient` may keep a verified presentation under the agreements it holds: one in which the
 * presentation's origin is the provider and `recipient` the recipient, active now (`agreements` holds
 * only those), in force at the token's `iat` (validity and revocation), with a term for its type whose
 * where-conditions the disclosed values meet; for records, every disclosed path within the fields of
 * those terms (as the sharer cuts them, `isAllowed`), subject references keyed (`refAgreement`) for one of
 * those agreements; a `stats.aggregate` only under an aggregate term
 * for its source type with its dimensions, period kind and minCell, small cells suppressed. Pure; deny
 * by default (no agreements: nothing is kept).
 */
export function checkReceived(
  agreements: readonly ActiveAgreement[],
  recipient: string,
  p: ReceivedPresentation,
): ReceiveVerdict {
  const held = agreements.filter((a) => a.body.provider === p.origin && a.body.recipient === recipient);
  if (held.length === 0) {
    return refuse('NO_AGREEMENT', `no agreement in which ${p.origin} provides to ${recipient} is held`);
  }
  const aggregate = p.type === AGGREGATE_TYPE;
  const source = aggregate ? p.claims.sourceType : p.type;
  const what = aggregate ? `aggregates of ${String(source)}` : `${p.type} records`;
  const covering = held.flatMap((agreement) =>
    agreement.body.terms
      .filter(
        (term) =>
          term.mode === (aggregate ? 'aggregate' : 'records') &&
          typeof source === 'string' &&
          (term.types as readonly string[]).includes(source) &&
          specialCategoryAllows(agreement.body, term, p.type, undefined),
      )
      .map((term) => ({ agreement, term })),
  );
  if (covering.length === 0) return refuse('NOT_AGREED_TYPE', `no term covers ${what}`);
  const issuedAt = p.iat * 1000;
  const inForceAtIat = covering.filter((c) => inForce(c.agreement, issuedAt));
  if (inForceAtIat.length === 0) {
    return refuse(
      'NO_AGREEMENT_AT_IAT',
      `no agreement covering ${what} was in force at ${new Date(issuedAt).toISOString()}`,
    );
  }
  const ids = (list: readonly { agreement: ActiveAgreement }[]): string[] =>
    [...new Set(list.map((c) => c.agreement.body.id))].sort();
  if (aggregate) {
    const misfits: string[] = [];
    const fitting = inForceAtIat.filter((c) => {
      const misfit = aggregateMisfit(c.term as AggregateTerm, p.claims);
      if (misfit !== undefined) misfits.push(`${c.agreement.body.id}: ${misfit}`);
      return misfit === undefined;
    });
    if (fitting.length === 0) return refuse('AGGREGATE_BEYOND_AGREEMENT', misfits.join('; '));
    return { ok: true, agreementIds: ids(fitting) };
  }
  const applicable = inForceAtIat.filter((c) => whereAllows(c.term.where, p.claims));
  if (applicable.length === 0) {
    return refuse('OUTSIDE_AGREED_WHERE', `disclosed values outside the where-conditions for ${what}`);
  }
  const allowed = new Set<string>();
  for (const { term } of applicable) {
    if (term.mode !== 'records') continue;
    for (const f of term.fields) if (isRecordPath(p.type, f)) allowed.add(f);
  }
  const beyond = p.disclosed.filter((path) => !isAllowed(path, allowed));
  if (beyond.length > 0) {
    return refuse('FIELDS_BEYOND_AGREEMENT', `disclosed beyond the agreed fields: ${beyond.join(', ')}`);
  }
  const agreementIds = ids(applicable);
  // References keyed for another's agreement could be linked with that other's: never kept.
  if (p.refAgreement !== undefined && !agreementIds.includes(p.refAgreement)) {
    return refuse('REF_AGREEMENT_NOT_HELD', `references keyed for ${p.refAgreement}, not for ${what} held`);
  }
  return { ok: true, agreementIds };
}
