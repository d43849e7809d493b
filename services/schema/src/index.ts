export {
  BODY_KEYS,
  CATALOGUE,
  EVENT_TYPES,
  SCHEMA_VERSION,
  SOURCE_EVENT_TYPES,
  isEventType,
  type BodyKey,
  type EventType,
} from './catalogue.js';
export {
  ALPHA2_CODES,
  ALPHA2_TO_ALPHA3,
  ALPHA3_CODES,
  STATELESS_CITIZENSHIP,
  UNKNOWN_CITIZENSHIP,
  isCitizenship,
} from './countries.js';
export {
  EUROSTAT_BORDER_TYPES,
  EUROSTAT_CITIZEN_EXCEPTIONS,
  REFUSAL_GROUND_LETTERS,
  citizenshipFromEurostat,
  eurostatCitizen,
} from './eurostat.js';
export {
  AGENCIES,
  EU_MEMBER_STATES,
  PARTNER_CODES,
  WESTERN_BALKANS,
  isPartnerCode,
  type PartnerCode,
} from './partners.js';
export {
  AGE_BANDS,
  BORDER_TYPES,
  CROSSING_POINTS,
  DECISION_INSTANCES,
  DECISION_OUTCOMES,
  DETECTION_METHODS,
  DIRECTIONS,
  DOCUMENT_TYPES,
  EVIDENCE_TYPES,
  EXPLOITATION_TYPES,
  FACILITY_TYPES,
  FRAUD_TYPES,
  IDENTIFIED_BY,
  MINOR_AGE_BANDS,
  MODI_OPERANDI,
  PERMIT_TYPES,
  PERSONAL_DOCUMENT_TYPES,
  READMISSION_OUTCOMES,
  READMISSION_REJECTION_REASONS,
  REFUSAL_GROUNDS,
  RETURN_TYPES,
  RISK_INDICATORS,
  RISK_LEVELS,
  SEXES,
  STAY_BASES,
  STAY_DETECTED_ON,
  VEHICLE_TYPES,
} from './vocabulary.js';
export {
  AggregateCellSchema,
  AssessmentRouteSchema,
  AsylumApplicationSchema,
  AsylumDecisionSchema,
  CrossingIrregularSchema,
  GeoPointSchema,
  LIMITS,
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
export { DocumentFraudSchema, EntryRefusalSchema, StayIllegalSchema } from './indicator-bodies.js';
export { EventSchema, type ValidEvent } from './event.js';
export { isRouteSegment, parseDate, parsePeriodStart, parseTimestamp } from './internal/primitives.js';
export {
  DEFAULT_CLOCK_SKEW_MS,
  EARLIEST,
  validateEvent,
  validateLine,
  type ValidateOptions,
  type ValidationResult,
} from './validate.js';
export {
  DISCLOSED_EVENT_FIELDS,
  PERSON_ATTRIBUTES,
  PERSON_FIELDS,
  bodyFields,
  validateDisclosedClaims,
} from './disclosed.js';
export { formatPath, type Violation, type ViolationCode } from './violation.js';
export {
  CORRECTION_REASONS,
  RECORD_CHANGE_TYPES,
  WITHDRAWAL_REASONS,
  isRecordChangeType,
  type CorrectionReason,
  type RecordChangeType,
  type WithdrawalReason,
} from './record-changes.js';
export { schemaMatchesProto, type SchemaMatchesProto } from './drift.js';
export { uuidV7 } from './uuid-v7.js';
