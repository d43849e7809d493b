import {
  formatPath,
  isEventType,
  parseTimestamp,
  validateDisclosedClaims,
  type EventType,
} from '@wbx/schema';

import type { AgreementIssue, AgreementIssueCode } from '../errors.js';
import { isDimension, isRecordPath, isWhereField } from '../paths.js';
import { READMISSION_PURPOSE, SPECIAL_CATEGORY_PURPOSE, SPECIAL_CATEGORY_TYPES } from '../purposes.js';

type Raw = Readonly<Record<string, unknown>>;
type Add = (path: PropertyKey[], code: AgreementIssueCode, message: string) => void;

const isRecord = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): [number, string][] =>
  Array.isArray(v)
    ? v.flatMap((s: unknown, i) => (typeof s === 'string' ? [[i, s] as [number, string]] : []))
    : [];

function unique(add: Add, at: PropertyKey[], list: unknown): void {
  const seen = new Set<string>();
  for (const [i, s] of strings(list)) {
    if (seen.has(s)) add([...at, i], 'MALFORMED_AGREEMENT', `${s} appears twice`);
    seen.add(s);
  }
}

const MODE_ONLY: Record<string, readonly string[]> = {
  records: ['fields'],
  aggregate: ['dimensions', 'period', 'minCell', 'rounding', 'noise'],
};

function modeRules(add: Add, at: PropertyKey[], term: Raw): void {
  const mode = term.mode;
  if (mode !== 'records' && mode !== 'aggregate') return;
  const required = mode === 'records' ? ['fields'] : ['dimensions', 'period'];
  for (const key of required) {
    if (term[key] === undefined) add([...at, key], 'MALFORMED_AGREEMENT', `required in ${mode} mode`);
  }
  const other = mode === 'records' ? 'aggregate' : 'records';
  for (const key of MODE_ONLY[other] ?? []) {
    if (term[key] !== undefined) add([...at, key], 'MALFORMED_AGREEMENT', `only in ${other} mode`);
  }
}

function pathRules(add: Add, at: PropertyKey[], term: Raw, types: readonly EventType[]): void {
  const list = types.join(', ');
  for (const [j, field] of strings(term.fields)) {
    if (!types.some((t) => isRecordPath(t, field))) {
      add([...at, 'fields', j], 'UNKNOWN_PATH', `${field} is not a field of ${list}`);
    }
  }
  for (const [j, dimension] of strings(term.dimensions)) {
    const lacking = types.filter((t) => !isDimension(t, dimension));
    if (lacking.length > 0) {
      add(
        [...at, 'dimensions', j],
        'UNKNOWN_PATH',
        `${dimension} is not a dimension of ${lacking.join(', ')}`,
      );
    }
  }
  if (!isRecord(term.where)) return;
  for (const [field, values] of Object.entries(term.where)) {
    const lacking = types.filter((t) => !isWhereField(t, field));
    if (lacking.length > 0) {
      const what = `${field} is not a field of ${lacking.join(', ')} that a condition can test`;
      add([...at, 'where', field], 'UNKNOWN_PATH', what);
      continue;
    }
    if (!Array.isArray(values)) continue;
    values.forEach((value: unknown, k) => {
      const violations = types.flatMap((t) => validateDisclosedClaims(t, { [field]: value }));
      for (const message of new Set(violations.map((v) => v.message))) {
        add([...at, 'where', field, k], 'MALFORMED_AGREEMENT', message);
      }
    });
    unique(add, [...at, 'where', field], values);
  }
}

function specialCategoryRules(add: Add, at: PropertyKey[], term: Raw, purposes: readonly string[]): void {
  const special = strings(term.types).filter(([, t]) => SPECIAL_CATEGORY_TYPES.includes(t));
  const records = term.mode === 'records';
  if (term.specialCategory === true && !(records && special.length > 0)) {
    add(
      [...at, 'specialCategory'],
      'MALFORMED_AGREEMENT',
      `applies only to records terms of ${SPECIAL_CATEGORY_TYPES.join(', ')}`,
    );
  }
  if (!records) return;
  const allowed = term.specialCategory === true && purposes.includes(SPECIAL_CATEGORY_PURPOSE);
  for (const [k, type] of allowed ? [] : special) {
    add(
      [...at, 'types', k],
      'SPECIAL_CATEGORY',
      `${type} records are special-category data: aggregate only, unless the purposes include ` +
        `${SPECIAL_CATEGORY_PURPOSE} and the term says specialCategory: true`,
    );
  }
}

/**
 * The rules that relate parts of an agreement, checked on the raw input so that they are reported
 * together with the shape errors: parties, dates, uniqueness, mode, paths and special category.
 */
export function agreementRules(input: unknown): AgreementIssue[] {
  const issues: AgreementIssue[] = [];
  const add: Add = (path, code, message) => issues.push({ path: formatPath(path), code, message });
  if (!isRecord(input)) return issues;
  if (typeof input.provider === 'string' && input.provider === input.recipient) {
    add(['recipient'], 'MALFORMED_AGREEMENT', 'the recipient must not be the provider');
  }
  const from = typeof input.validFrom === 'string' ? parseTimestamp(input.validFrom) : undefined;
  const until = typeof input.validUntil === 'string' ? parseTimestamp(input.validUntil) : undefined;
  if (from !== undefined && until !== undefined && until <= from) {
    add(['validUntil'], 'MALFORMED_AGREEMENT', 'must be after validFrom');
  }
  unique(add, ['purposes'], input.purposes);
  const purposes = strings(input.purposes).map(([, p]) => p);
  if (purposes.includes(READMISSION_PURPOSE) && input.readmission === undefined) {
    add(
      ['readmission'],
      'MALFORMED_AGREEMENT',
      `required with the purpose ${READMISSION_PURPOSE} (answerWithinHours)`,
    );
  }
  if (input.readmission !== undefined && !purposes.includes(READMISSION_PURPOSE)) {
    add(['readmission'], 'MALFORMED_AGREEMENT', `only with the purpose ${READMISSION_PURPOSE}`);
  }
  if (!Array.isArray(input.terms)) return issues;
  input.terms.forEach((term: unknown, i) => {
    if (!isRecord(term)) return;
    const at = ['terms', i];
    const types = strings(term.types)
      .map(([, t]) => t)
      .filter((t): t is EventType => isEventType(t) && t !== 'stats.aggregate');
    unique(add, [...at, 'types'], term.types);
    unique(add, [...at, 'fields'], term.fields);
    unique(add, [...at, 'dimensions'], term.dimensions);
    modeRules(add, at, term);
    if (types.length > 0) pathRules(add, at, term, types);
    specialCategoryRules(add, at, term, purposes);
  });
  return issues;
}
