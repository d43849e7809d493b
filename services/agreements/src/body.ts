import type { EventType } from '@wbx/schema';

import { AgreementError, type AgreementErrorCode, type AgreementIssue } from './errors.js';
import { agreementBodySchema, MIN_CELL_DEFAULT, type ParsedTerm } from './internal/body-schema.js';
import { deepFreeze } from './internal/freeze.js';
import { agreementRules } from './internal/rules.js';
import { requiredErrorMap, zodIssues } from './internal/zod-issues.js';
import type { Purpose } from './purposes.js';

/** How often an aggregate term is counted. */
export type Period = 'day' | 'week' | 'month';

/** A where-condition value: a code, country, route segment, … or a flag. */
export type WhereValue = string | boolean;

/** Where-conditions: every field named must have one of its listed values (AND of INs). */
export type Where = Readonly<Record<string, readonly WhereValue[]>>;

interface TermBase {
  /** Catalogue event types the term covers (never `stats.aggregate`). */
  readonly types: readonly EventType[];
  /** Only events whose values meet every condition. */
  readonly where?: Where;
  /** How long the recipient may keep what it gets, in days (1 … 3650). */
  readonly retentionDays: number;
}

/** Records: the recipient gets the events themselves, with only the listed disclosure paths. */
export interface RecordsTerm extends TermBase {
  readonly mode: 'records';
  /** Disclosure paths: `occurredAt`, `recordedAt`, body fields, `persons.<attr>` / `person.<attr>`. */
  readonly fields: readonly string[];
  /** Acknowledges special-category records (trafficking victims); only with purpose victim-protection. */
  readonly specialCategory?: boolean;
}

/** Aggregate: the recipient gets sealed `stats.aggregate` counts per period, small cells suppressed. */
export interface AggregateTerm extends TermBase {
  readonly mode: 'aggregate';
  /** What to count by: categorical body fields and person attributes (`persons.citizenship`). */
  readonly dimensions: readonly string[];
  readonly period: Period;
  /** Cells with a count below this are suppressed (default 5, never below 3). */
  readonly minCell: number;
  /**
   * Published counts are rounded to the nearest multiple of this (e.g. 5, as Eurostat does for asylum);
   * absent: exact counts.
   */
  readonly rounding?: number;
  /**
   * `cell-key`: published counts carry bounded noise (−2 … +2, mean 0) drawn from a key of the records
   * that make up the cell (the sum of their keyed record keys), so the same records always get the same
   * noise (the cell-key method of the European 2021 census); absent: no noise.
   */
  readonly noise?: 'cell-key';
}

export type Term = RecordsTerm | AggregateTerm;

/** What the provider and the recipient sign (DESIGN.md, Bilateral agreement). */
export interface AgreementBody {
  /** e.g. `MK-RS-2026-001`. */
  readonly id: string;
  /** The partner whose events are shared. */
  readonly provider: string;
  /** The partner that receives them. */
  readonly recipient: string;
  readonly purposes: readonly Purpose[];
  readonly legalBasis: string;
  /** RFC 3339 UTC: first instant the agreement applies. */
  readonly validFrom: string;
  /** RFC 3339 UTC: the agreement applies strictly before this instant. */
  readonly validUntil: string;
  readonly terms: readonly Term[];
  /**
   * When the agreement is revoked or expires, the recipient deletes what it received under it at once
   * (its inbox's retention sweep), instead of keeping it until each term's `retentionDays` have passed.
   */
  readonly deleteOnEnd?: boolean;
  /** With the purpose return-readmission: the requested state answers within this many hours. */
  readonly readmission?: { readonly answerWithinHours: number };
}

function toTerm(t: ParsedTerm): Term {
  const base = {
    types: t.types as EventType[],
    ...(t.where === undefined ? {} : { where: t.where }),
    retentionDays: t.retentionDays,
  };
  if (t.mode === 'records') {
    return {
      mode: 'records',
      ...base,
      fields: t.fields ?? [],
      ...(t.specialCategory === undefined ? {} : { specialCategory: t.specialCategory }),
    };
  }
  return {
    mode: 'aggregate',
    ...base,
    dimensions: t.dimensions ?? [],
    period: t.period ?? 'month',
    minCell: t.minCell ?? MIN_CELL_DEFAULT,
    ...(t.rounding === undefined ? {} : { rounding: t.rounding }),
    ...(t.noise === undefined ? {} : { noise: t.noise }),
  };
}

/** The error's code: the issues' code when they all share one, else MALFORMED_AGREEMENT. */
function codeOf(issues: readonly AgreementIssue[]): AgreementErrorCode {
  const codes = new Set(issues.map((i) => i.code));
  const [only] = codes;
  return codes.size === 1 && only !== undefined ? only : 'MALFORMED_AGREEMENT';
}

/** Throws the AgreementError for `issues` (if any). */
export function throwIssues(issues: readonly AgreementIssue[], what: string, cause?: unknown): void {
  if (issues.length === 0) return;
  const details = issues.map((i) => `${i.path}: ${i.message}`);
  throw new AgreementError(codeOf(issues), `${what}: ${details.join('; ')}`, { issues, cause });
}

/**
 * Validates an agreement body and returns a deep-frozen copy in canonical form: nothing the schema does
 * not know, aggregate terms with their `minCell`. Every problem is reported with its path (`issues`);
 * the code is UNKNOWN_PATH or SPECIAL_CATEGORY when every issue is of that kind, else
 * MALFORMED_AGREEMENT.
 */
export function parseAgreementBody(input: unknown): AgreementBody {
  const result = agreementBodySchema.safeParse(input, { error: requiredErrorMap });
  const issues = [...(result.success ? [] : zodIssues(result.error.issues)), ...agreementRules(input)];
  throwIssues(issues, 'malformed agreement', result.error);
  if (!result.success) throw new Error('unreachable: a failed parse has issues');
  const b = result.data;
  return deepFreeze({
    id: b.id,
    provider: b.provider,
    recipient: b.recipient,
    purposes: b.purposes,
    legalBasis: b.legalBasis,
    validFrom: b.validFrom,
    validUntil: b.validUntil,
    terms: b.terms.map(toTerm),
    ...(b.deleteOnEnd === undefined ? {} : { deleteOnEnd: b.deleteOnEnd }),
    ...(b.readmission === undefined ? {} : { readmission: b.readmission }),
  });
}
