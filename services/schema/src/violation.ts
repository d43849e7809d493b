/**
 * Stable violation codes: what rule a value broke. Operators, tests and the gRPC boundary rely on these
 * strings; add new ones, never rename.
 */
export type ViolationCode =
  /** The line is not valid JSON, or not a JSON object. */
  | 'INVALID_JSON'
  /** A field that the schema does not have (e.g. a name or document number). */
  | 'UNKNOWN_FIELD'
  /** A required field is missing or empty. */
  | 'REQUIRED'
  /** The value has the wrong JSON type (string for number, fraction for integer, …). */
  | 'INVALID_TYPE'
  /** A string longer than its cap. */
  | 'TOO_LONG'
  /** A list with fewer items than required. */
  | 'TOO_FEW'
  /** A list with more items than allowed. */
  | 'TOO_MANY'
  /** A number outside its range. */
  | 'OUT_OF_RANGE'
  /** A string that does not have the required form (timestamp, date, UUIDv7, subjectRef, reference, …). */
  | 'INVALID_FORMAT'
  /** A value outside its closed vocabulary (sex, age band, outcome, …). */
  | 'INVALID_CODE'
  /** Not an ISO 3166-1 alpha-3 country code (nor XXA / XXX where a citizenship is allowed). */
  | 'UNKNOWN_COUNTRY'
  /** Not a WBX partner code. */
  | 'UNKNOWN_PARTNER'
  /** Not two different ISO 3166-1 alpha-2 codes joined by '-'. */
  | 'INVALID_ROUTE_SEGMENT'
  /** Not a catalogue event type. */
  | 'UNKNOWN_EVENT_TYPE'
  /** A schema version this software does not know. */
  | 'UNSUPPORTED_SCHEMA_VERSION'
  /** A date or time before 2015-01-01. */
  | 'DATE_TOO_EARLY'
  /** A date or time later than now plus the allowed clock skew. */
  | 'DATE_IN_FUTURE'
  /** Dates in the wrong order (recorded before it occurred, deadline before the request, …). */
  | 'DATE_ORDER'
  /** Reception occupancy above capacity. */
  | 'OCCUPANCY_EXCEEDS_CAPACITY'
  /** A part larger than its whole (children above occupancy, minors above children, …). */
  | 'COUNT_EXCEEDS_TOTAL'
  /** The body set does not belong to the event's type. */
  | 'TYPE_BODY_MISMATCH'
  /** More than one body is set. */
  | 'MULTIPLE_BODIES'
  /** Fields that contradict each other. */
  | 'INCONSISTENT'
  /** A value repeated where each must be unique. */
  | 'DUPLICATE_VALUE'
  /** An event of another origin submitted to this partner's gateway. */
  | 'FOREIGN_ORIGIN'
  /** A correction or withdrawal names an event that this gateway's WBX_EVENTS does not hold. */
  | 'ORIGINAL_NOT_FOUND'
  /** A correction or withdrawal names an event that another origin issued. */
  | 'ORIGINAL_NOT_OWN'
  /** A correction or withdrawal names an event already withdrawn. */
  | 'ORIGINAL_WITHDRAWN'
  /** A correction changes the type of the event it corrects. */
  | 'ORIGINAL_TYPE_MISMATCH'
  /** A correction or withdrawal names an event that cannot be changed (an aggregate, or a change). */
  | 'ORIGINAL_NOT_CHANGEABLE';

/** One broken rule: where (a path such as `crossingIrregular.persons[2].citizenship`) and which rule. */
export interface Violation {
  readonly path: string;
  readonly code: ViolationCode;
  readonly message: string;
}

/** Formats a path of keys and indices as `a.b[2].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}
