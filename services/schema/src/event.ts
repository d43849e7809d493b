import * as z from 'zod';

import {
  AssessmentRouteSchema,
  AsylumApplicationSchema,
  AsylumDecisionSchema,
  CrossingIrregularSchema,
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
import { isEventType, SCHEMA_VERSION } from './catalogue.js';
import { DocumentFraudSchema, EntryRefusalSchema, StayIllegalSchema } from './indicator-bodies.js';
import { RecordCorrectionSchema, RecordWithdrawalSchema } from './record-changes.js';
import { issue, partner, timestamp, uuidV7 } from './internal/primitives.js';

/**
 * The `wbx.v1.Event` envelope in its proto3 canonical JSON form. Each body is optional here; that
 * exactly one is set, and that it matches `type`, is checked by `validateEvent`.
 */
export const EventSchema = z.strictObject({
  eventId: uuidV7,
  origin: partner,
  type: z.string().refine(isEventType, issue('UNKNOWN_EVENT_TYPE', 'not a catalogue event type')),
  schemaVersion: z
    .number()
    .refine(
      (v) => v === SCHEMA_VERSION,
      issue('UNSUPPORTED_SCHEMA_VERSION', `schemaVersion must be ${SCHEMA_VERSION}`),
    ),
  occurredAt: timestamp,
  recordedAt: timestamp,
  crossingIrregular: CrossingIrregularSchema.optional(),
  smugglingIncident: SmugglingIncidentSchema.optional(),
  traffickingVictim: TraffickingVictimSchema.optional(),
  asylumApplication: AsylumApplicationSchema.optional(),
  asylumDecision: AsylumDecisionSchema.optional(),
  residenceHumanitarian: ResidenceHumanitarianSchema.optional(),
  returnDecision: ReturnDecisionSchema.optional(),
  returnExecuted: ReturnExecutedSchema.optional(),
  readmissionRequest: ReadmissionRequestSchema.optional(),
  readmissionResponse: ReadmissionResponseSchema.optional(),
  receptionCapacity: ReceptionCapacitySchema.optional(),
  assessmentRoute: AssessmentRouteSchema.optional(),
  statsAggregate: StatsAggregateSchema.optional(),
  recordCorrection: RecordCorrectionSchema.optional(),
  recordWithdrawal: RecordWithdrawalSchema.optional(),
  entryRefusal: EntryRefusalSchema.optional(),
  stayIllegal: StayIllegalSchema.optional(),
  documentFraud: DocumentFraudSchema.optional(),
});

/** A validated event, every proto3 default filled in. */
export type ValidEvent = z.output<typeof EventSchema>;
