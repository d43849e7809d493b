import type * as z from 'zod';

import {
  AssessmentRouteSchema,
  AsylumApplicationSchema,
  AsylumDecisionSchema,
  CrossingIrregularSchema,
  PersonSchema,
  ReadmissionRequestSchema,
  ReadmissionResponseSchema,
  ReceptionCapacitySchema,
  ResidenceHumanitarianSchema,
  ReturnDecisionSchema,
  ReturnExecutedSchema,
  SmugglingIncidentSchema,
  StatsAggregateSchema,
  TraffickingVictimSchema,
} from './bodies.js';
import { isEventType, type EventType } from './catalogue.js';
import { DocumentFraudSchema, EntryRefusalSchema, StayIllegalSchema } from './indicator-bodies.js';
import { timestamp } from './internal/primitives.js';
import { RecordCorrectionSchema, RecordWithdrawalSchema } from './record-changes.js';
import { fromIssue } from './validate.js';
import { formatPath, type Violation } from './violation.js';

const BODY_SHAPES: Record<EventType, Record<string, z.ZodType>> = {
  'crossing.irregular': CrossingIrregularSchema.shape,
  'smuggling.incident': SmugglingIncidentSchema.shape,
  'trafficking.victim': TraffickingVictimSchema.shape,
  'asylum.application': AsylumApplicationSchema.shape,
  'asylum.decision': AsylumDecisionSchema.shape,
  'residence.humanitarian': ResidenceHumanitarianSchema.shape,
  'return.decision': ReturnDecisionSchema.shape,
  'return.executed': ReturnExecutedSchema.shape,
  'readmission.request': ReadmissionRequestSchema.shape,
  'readmission.response': ReadmissionResponseSchema.shape,
  'reception.capacity': ReceptionCapacitySchema.shape,
  'assessment.route': AssessmentRouteSchema.shape,
  'stats.aggregate': StatsAggregateSchema.shape,
  'record.correction': RecordCorrectionSchema.shape,
  'record.withdrawal': RecordWithdrawalSchema.shape,
  'entry.refusal': EntryRefusalSchema.shape,
  'stay.illegal': StayIllegalSchema.shape,
  'document.fraud': DocumentFraudSchema.shape,
};

/** Event-level claims that a sealed event discloses next to its body fields. */
export const DISCLOSED_EVENT_FIELDS: readonly string[] = ['occurredAt', 'recordedAt'];

/** The body fields of a catalogue type, in schema order. */
export function bodyFields(type: EventType): readonly string[] {
  return Object.keys(BODY_SHAPES[type]);
}

/** Fields whose value is a Person (or a list of them), disclosed attribute by attribute. */
export const PERSON_FIELDS: readonly string[] = ['person', 'persons'];

/** The attributes of a person. */
export const PERSON_ATTRIBUTES: readonly string[] = Object.keys(PersonSchema.shape);

/**
 * Primitive values already found valid, per field schema. Verification checks every disclosed field of
 * every presentation, and most values repeat (citizenship, sex, route segment…): a set lookup instead of
 * a zod parse. Only successes are remembered (a failure is re-parsed for its violations); bounded.
 */
const knownValid = new WeakMap<z.ZodType, Set<string | number | boolean>>();
const KNOWN_VALID_MAX = 4096;

/** Where a value sits: the path as a prefix and a last key, joined only when a violation is reported. */
function check(
  schema: z.ZodType,
  value: unknown,
  prefix: readonly PropertyKey[],
  key: PropertyKey,
  out: Violation[],
): void {
  const primitive = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
  let known = knownValid.get(schema);
  if (primitive && known?.has(value) === true) return;
  const r = schema.safeParse(value);
  if (r.success && primitive) {
    if (known === undefined) knownValid.set(schema, (known = new Set()));
    if (known.size < KNOWN_VALID_MAX) known.add(value);
  }
  if (!r.success) for (const i of r.error.issues) fromIssue(i, value, out, [...prefix, key]);
}

const PERSON_SHAPE = PersonSchema.shape as Record<string, z.ZodType>;

function checkPartialPerson(value: unknown, prefix: PropertyKey[], out: Violation[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.push({ path: formatPath(prefix), code: 'INVALID_TYPE', message: 'expected a person object' });
    return;
  }
  const person = value as Record<string, unknown>;
  for (const attr of Object.keys(person)) {
    // Own properties only: a disclosed `constructor` or `toString` is an unknown field, not a method.
    const schema = Object.hasOwn(PERSON_SHAPE, attr) ? PERSON_SHAPE[attr] : undefined;
    if (schema === undefined)
      out.push({ path: formatPath([...prefix, attr]), code: 'UNKNOWN_FIELD', message: attr });
    else check(schema, person[attr], prefix, attr, out);
  }
}

/**
 * Checks the claims a presentation disclosed (any subset of an event's fields, persons attribute by
 * attribute) against the field rules of its type. Rules that relate several fields are the origin's to
 * enforce at ingest and are not re-checked on a subset. Returns every violation; empty when valid.
 */
export function validateDisclosedClaims(
  type: string,
  claims: Readonly<Record<string, unknown>>,
): Violation[] {
  if (!isEventType(type)) return [{ path: 'wbx_type', code: 'UNKNOWN_EVENT_TYPE', message: type }];
  const shape = BODY_SHAPES[type];
  const out: Violation[] = [];
  for (const [key, value] of Object.entries(claims)) {
    if (DISCLOSED_EVENT_FIELDS.includes(key)) {
      check(timestamp, value, [], key, out);
    } else if (!Object.hasOwn(shape, key) || shape[key] === undefined) {
      out.push({ path: key, code: 'UNKNOWN_FIELD', message: `${type} has no field ${key}` });
    } else if (key === 'persons') {
      if (!Array.isArray(value)) out.push({ path: key, code: 'INVALID_TYPE', message: 'expected a list' });
      else value.forEach((p, i) => checkPartialPerson(p, [key, i], out));
    } else if (key === 'person') {
      checkPartialPerson(value, [key], out);
    } else {
      check(shape[key], value, [], key, out);
    }
  }
  return out;
}
