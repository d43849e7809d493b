import type * as z from 'zod';

import { BODY_KEYS, CATALOGUE, isEventType, SOURCE_EVENT_TYPES } from './catalogue.js';
import { EventSchema, type ValidEvent } from './event.js';
import { parseDate, parsePeriodStart, parseTimestamp } from './internal/primitives.js';
import { formatPath, type Violation, type ViolationCode } from './violation.js';

export interface ValidateOptions {
  /** The time to judge "in the future" against; default: the current time. */
  readonly now?: Date;
  /** How far in the future a timestamp may be, for clocks that run ahead; default 5 minutes. */
  readonly clockSkewMs?: number;
}

export type ValidationResult =
  | { readonly ok: true; readonly event: ValidEvent }
  | { readonly ok: false; readonly violations: readonly Violation[] };

/** Nothing in WBX happened before this: the route's 2015 peak is where the records start. */
export const EARLIEST = Date.UTC(2015, 0, 1);
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;

type Issue = z.core.$ZodIssue;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** Turns a zod issue into our violations; `prefix` is where `input` sits in the whole event. */
export function fromIssue(
  i: Issue,
  input: unknown,
  out: Violation[],
  prefix: readonly PropertyKey[] = [],
): void {
  const path = formatPath([...prefix, ...i.path]);
  const push = (code: ViolationCode, message: string, at = path): void => {
    out.push({ path: at, code, message });
  };
  switch (i.code) {
    case 'unrecognized_keys':
      for (const key of i.keys)
        push('UNKNOWN_FIELD', `unknown field ${key}`, formatPath([...prefix, ...i.path, key]));
      return;
    case 'invalid_type':
      if (valueAt(input, i.path) === undefined) push('REQUIRED', 'required');
      else push('INVALID_TYPE', `expected ${i.expected}`);
      return;
    case 'too_big':
      if (i.origin === 'string') push('TOO_LONG', `at most ${String(i.maximum)} characters`);
      else if (i.origin === 'array') push('TOO_MANY', `at most ${String(i.maximum)} items`);
      else push('OUT_OF_RANGE', `at most ${String(i.maximum)}`);
      return;
    case 'too_small':
      if (i.origin === 'string') push('REQUIRED', 'required (empty)');
      else if (i.origin === 'array') push('TOO_FEW', `at least ${String(i.minimum)} items`);
      else push('OUT_OF_RANGE', `at least ${String(i.minimum)}`);
      return;
    case 'invalid_value': {
      const value = valueAt(input, i.path);
      if (value === undefined) push('REQUIRED', 'required');
      else if (typeof value !== 'string') push('INVALID_TYPE', 'expected string');
      else push('INVALID_CODE', `must be one of ${i.values.map(String).join(', ')}`);
      return;
    }
    case 'invalid_format':
      push('INVALID_FORMAT', i.message);
      return;
    case 'custom': {
      const code = (i.params as { code?: ViolationCode } | undefined)?.code ?? 'INVALID_FORMAT';
      push(code, i.message);
      return;
    }
    default:
      push('INVALID_TYPE', i.message);
  }
}

/** Exactly one body, the one that `type` names. */
function bodyRules(input: Record<string, unknown>, out: Violation[]): void {
  const present = BODY_KEYS.filter((k) => input[k] !== undefined);
  const type = input.type;
  const expected = typeof type === 'string' && isEventType(type) ? CATALOGUE[type] : undefined;
  if (expected !== undefined && !present.includes(expected)) {
    out.push({
      path: expected,
      code: 'REQUIRED',
      message: `a ${String(type)} event needs a ${expected} body`,
    });
  }
  if (present.length === 0 && expected === undefined) {
    out.push({ path: 'body', code: 'REQUIRED', message: 'an event needs exactly one body' });
  }
  for (const key of present) {
    if (expected !== undefined && key !== expected) {
      out.push({
        path: key,
        code: 'TYPE_BODY_MISMATCH',
        message: `a ${String(type)} event cannot carry ${key}`,
      });
    } else if (expected === undefined && present.length > 1) {
      out.push({ path: key, code: 'MULTIPLE_BODIES', message: 'an event carries exactly one body' });
    }
  }
}

/** Time rules, which depend on `now`: nothing before 2015, nothing in the future, order within the event. */
function timeRules(input: Record<string, unknown>, now: number, skew: number, out: Violation[]): void {
  const at = (v: unknown, parse: (s: string) => number | undefined): number | undefined =>
    typeof v === 'string' ? parse(v) : undefined;
  const range = (path: string, t: number | undefined, future: boolean): void => {
    if (t === undefined) return;
    if (t < EARLIEST) out.push({ path, code: 'DATE_TOO_EARLY', message: 'before 2015-01-01' });
    else if (!future && t > now + skew) out.push({ path, code: 'DATE_IN_FUTURE', message: 'in the future' });
  };
  const occurred = at(input.occurredAt, parseTimestamp);
  const recorded = at(input.recordedAt, parseTimestamp);
  range('occurredAt', occurred, false);
  range('recordedAt', recorded, false);
  if (occurred !== undefined && recorded !== undefined && recorded < occurred) {
    out.push({ path: 'recordedAt', code: 'DATE_ORDER', message: 'recorded before it occurred' });
  }
  const body = (key: string): Record<string, unknown> | undefined => {
    const b = input[key];
    return b !== null && typeof b === 'object' ? (b as Record<string, unknown>) : undefined;
  };
  const request = body('readmissionRequest');
  const deadline = at(request?.deadline, parseTimestamp);
  range('readmissionRequest.deadline', deadline, true);
  if (deadline !== undefined && occurred !== undefined && deadline <= occurred) {
    out.push({
      path: 'readmissionRequest.deadline',
      code: 'DATE_ORDER',
      message: 'deadline before the request',
    });
  }
  const residence = body('residenceHumanitarian');
  const validUntil = at(residence?.validUntil, parseDate);
  range('residenceHumanitarian.validUntil', validUntil, true);
  if (validUntil !== undefined && occurred !== undefined && validUntil + 86_400_000 <= occurred) {
    out.push({
      path: 'residenceHumanitarian.validUntil',
      code: 'DATE_ORDER',
      message: 'expires before it was granted',
    });
  }
  for (const key of ['assessmentRoute', 'statsAggregate']) {
    range(`${key}.period`, at(body(key)?.period, parsePeriodStart), false);
  }
}

/**
 * Validates one event in its proto3 canonical JSON form (already parsed) and returns either the event,
 * every proto3 default filled in, or **all** its violations, each with a path and a stable code.
 */
export function validateEvent(input: unknown, options: ValidateOptions = {}): ValidationResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return {
      ok: false,
      violations: [{ path: '', code: 'INVALID_JSON', message: 'an event is a JSON object' }],
    };
  }
  const violations: Violation[] = [];
  const parsed = EventSchema.safeParse(input);
  if (!parsed.success) for (const i of parsed.error.issues) fromIssue(i, input, violations);
  const record = input as Record<string, unknown>;
  bodyRules(record, violations);
  const now = (options.now ?? new Date()).getTime();
  timeRules(record, now, options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS, violations);
  const corrected = correctionRules(record, options, violations);
  if (violations.length > 0 || !parsed.success) return { ok: false, violations };
  const event = parsed.data;
  if (event.recordCorrection !== undefined && corrected !== undefined) {
    return { ok: true, event: { ...event, recordCorrection: { ...event.recordCorrection, corrected } } };
  }
  return { ok: true, event };
}

/**
 * A `record.correction`'s corrected event: a whole valid event (its violations under
 * `recordCorrection.corrected.`), of a source type, with the original's event id and this origin.
 * Returns it validated (proto3 defaults filled in), or undefined.
 */
function correctionRules(
  input: Record<string, unknown>,
  options: ValidateOptions,
  out: Violation[],
): ValidEvent | undefined {
  const body = input.recordCorrection;
  if (body === null || typeof body !== 'object') return undefined;
  const { corrected, originalEventId } = body as Record<string, unknown>;
  if (corrected === null || typeof corrected !== 'object' || Array.isArray(corrected)) return undefined;
  const at = 'recordCorrection.corrected';
  const nested = corrected as Record<string, unknown>;
  const result = validateEvent(corrected, options);
  if (!result.ok) {
    for (const v of result.violations) out.push({ ...v, path: v.path === '' ? at : `${at}.${v.path}` });
  }
  if (typeof nested.type === 'string' && !(SOURCE_EVENT_TYPES as readonly string[]).includes(nested.type)) {
    out.push({ path: `${at}.type`, code: 'INVALID_CODE', message: 'only a source event can be corrected' });
  }
  if (nested.eventId !== originalEventId) {
    out.push({ path: `${at}.eventId`, code: 'INCONSISTENT', message: 'must be the original event id' });
  }
  if (nested.origin !== input.origin) {
    out.push({ path: `${at}.origin`, code: 'INCONSISTENT', message: 'must be the origin of the correction' });
  }
  if (originalEventId !== undefined && originalEventId === input.eventId) {
    out.push({
      path: 'recordCorrection.originalEventId',
      code: 'INCONSISTENT',
      message: 'a correction names another event than itself',
    });
  }
  return result.ok ? result.event : undefined;
}

/** Parses and validates one NDJSON line. */
export function validateLine(line: string, options: ValidateOptions = {}): ValidationResult {
  let input: unknown;
  try {
    input = JSON.parse(line);
  } catch (e) {
    const message = e instanceof SyntaxError ? e.message : 'not JSON';
    return { ok: false, violations: [{ path: '', code: 'INVALID_JSON', message }] };
  }
  return validateEvent(input, options);
}
