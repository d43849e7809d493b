import * as z from 'zod';

import { SOURCE_EVENT_TYPES } from './catalogue.js';
import {
  citizenship,
  code,
  count,
  country,
  date,
  flag,
  geoPoint,
  issue,
  partner,
  period,
  ref,
  routeSegment,
  subjectRef,
  text,
  timestamp,
} from './internal/primitives.js';
import {
  AGE_BANDS,
  CROSSING_POINTS,
  DECISION_INSTANCES,
  DECISION_OUTCOMES,
  DETECTION_METHODS,
  DIRECTIONS,
  EVIDENCE_TYPES,
  EXPLOITATION_TYPES,
  FACILITY_TYPES,
  IDENTIFIED_BY,
  MINOR_AGE_BANDS,
  MODI_OPERANDI,
  PERMIT_TYPES,
  READMISSION_OUTCOMES,
  READMISSION_REJECTION_REASONS,
  RETURN_TYPES,
  RISK_INDICATORS,
  RISK_LEVELS,
  SEXES,
  VEHICLE_TYPES,
} from './vocabulary.js';

/** Limits on list sizes and counts; generous for real operations, tight enough to stop abuse. */
export const LIMITS = {
  /**
   * A sealed event discloses each person attribute by attribute (~800 bytes a person), and verifiers
   * refuse tokens over 64 KiB by default: 60 persons keep a crossing report well under that. A larger
   * group is reported as several crossing events.
   */
  personsPerCrossing: 60,
  migrantsPerIncident: 10_000,
  facilitatorsPerIncident: 1_000,
  familySize: 50,
  facilityCapacity: 100_000,
  evidenceItems: 10,
  indicators: 10,
  summaryLength: 2_000,
  borderSectionLength: 64,
  dimensions: 6,
  cells: 10_000,
  cellValueLength: 64,
} as const;

const BORDER_SECTION_RE = /^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$/;
/** An origin's identifier of a border section or crossing point, e.g. `MK-GR/Gevgelija`. */
export const borderSection = text(LIMITS.borderSectionLength).regex(
  BORDER_SECTION_RE,
  issue('INVALID_FORMAT', 'letters, digits, space and . _ / - only'),
);

export const PersonSchema = z
  .strictObject({
    subjectRef: subjectRef.optional(),
    citizenship,
    sex: code(SEXES),
    ageBand: code(AGE_BANDS),
    unaccompaniedMinor: flag,
  })
  .superRefine((p, ctx) => {
    if (p.unaccompaniedMinor && p.ageBand !== 'unknown' && !MINOR_AGE_BANDS.includes(p.ageBand)) {
      ctx.addIssue({
        code: 'custom',
        path: ['unaccompaniedMinor'],
        ...issue('INCONSISTENT', `an unaccompanied minor cannot be in age band ${p.ageBand}`),
      });
    }
  });

export const GeoPointSchema = geoPoint;

export const CrossingIrregularSchema = z.strictObject({
  borderSection,
  routeSegment,
  direction: code(DIRECTIONS),
  location: geoPoint.optional(),
  persons: z.array(PersonSchema).min(1).max(LIMITS.personsPerCrossing),
  facilitatorSuspected: flag,
  detectionMethod: code(DETECTION_METHODS),
  crossingPoint: code(CROSSING_POINTS).optional(),
});

export const SmugglingIncidentSchema = z.strictObject({
  routeSegment,
  location: geoPoint.optional(),
  migrantsCount: count(LIMITS.migrantsPerIncident),
  facilitatorsApprehended: count(LIMITS.facilitatorsPerIncident),
  modusOperandi: code(MODI_OPERANDI),
  vehicleType: code(VEHICLE_TYPES).optional(),
  caseRef: ref,
});

export const TraffickingVictimSchema = z.strictObject({
  exploitationType: code(EXPLOITATION_TYPES),
  person: PersonSchema,
  referredToAssistance: flag,
  identifiedBy: code(IDENTIFIED_BY),
});

export const AsylumApplicationSchema = z.strictObject({
  applicationRef: ref,
  person: PersonSchema,
  countryOfOrigin: citizenship,
  firstEntryCountry: country.optional(),
  familySize: count(LIMITS.familySize).refine(
    (n) => n >= 1,
    issue('OUT_OF_RANGE', 'familySize must be at least 1'),
  ),
});

export const AsylumDecisionSchema = z.strictObject({
  applicationRef: ref,
  instance: code(DECISION_INSTANCES),
  outcome: code(DECISION_OUTCOMES),
  person: PersonSchema,
});

export const ResidenceHumanitarianSchema = z.strictObject({
  permitType: code(PERMIT_TYPES),
  validUntil: date,
  person: PersonSchema,
});

export const ReturnDecisionSchema = z.strictObject({
  person: PersonSchema,
  returnType: code(RETURN_TYPES),
  destinationCountry: country,
});

export const ReturnExecutedSchema = z.strictObject({
  person: PersonSchema,
  returnType: code(RETURN_TYPES),
  destinationCountry: country,
});

function uniqueItems(ctx: z.RefinementCtx, items: readonly string[], path: PropertyKey): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item)) {
      ctx.addIssue({ code: 'custom', path: [path, i], ...issue('DUPLICATE_VALUE', `${item} appears twice`) });
    }
    seen.add(item);
  });
}

export const ReadmissionRequestSchema = z
  .strictObject({
    requestRef: ref,
    requestingState: partner,
    requestedState: partner,
    person: PersonSchema,
    evidence: z.array(code(EVIDENCE_TYPES)).min(1).max(LIMITS.evidenceItems),
    deadline: timestamp,
  })
  .superRefine((r, ctx) => {
    if (r.requestingState === r.requestedState) {
      ctx.addIssue({
        code: 'custom',
        path: ['requestedState'],
        ...issue('INCONSISTENT', 'a state cannot request readmission from itself'),
      });
    }
    uniqueItems(ctx, r.evidence, 'evidence');
  });

export const ReadmissionResponseSchema = z
  .strictObject({
    requestRef: ref,
    requestingState: partner,
    requestedState: partner,
    outcome: code(READMISSION_OUTCOMES),
    reason: code(READMISSION_REJECTION_REASONS).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.requestingState === r.requestedState) {
      ctx.addIssue({
        code: 'custom',
        path: ['requestedState'],
        ...issue('INCONSISTENT', 'a state cannot answer its own readmission request'),
      });
    }
    if (r.reason !== undefined && r.outcome !== 'rejected') {
      ctx.addIssue({
        code: 'custom',
        path: ['reason'],
        ...issue('INCONSISTENT', 'a reason is given only with outcome rejected'),
      });
    }
  });

export const ReceptionCapacitySchema = z
  .strictObject({
    facilityId: ref,
    facilityType: code(FACILITY_TYPES),
    capacity: count(LIMITS.facilityCapacity),
    occupancy: count(LIMITS.facilityCapacity),
    children: count(LIMITS.facilityCapacity),
    unaccompaniedMinors: count(LIMITS.facilityCapacity),
  })
  .superRefine((r, ctx) => {
    if (r.occupancy > r.capacity) {
      ctx.addIssue({
        code: 'custom',
        path: ['occupancy'],
        ...issue('OCCUPANCY_EXCEEDS_CAPACITY', `occupancy ${r.occupancy} exceeds capacity ${r.capacity}`),
      });
    }
    if (r.children > r.occupancy) {
      ctx.addIssue({
        code: 'custom',
        path: ['children'],
        ...issue('COUNT_EXCEEDS_TOTAL', `children ${r.children} exceed occupancy ${r.occupancy}`),
      });
    }
    if (r.unaccompaniedMinors > r.children) {
      ctx.addIssue({
        code: 'custom',
        path: ['unaccompaniedMinors'],
        ...issue(
          'COUNT_EXCEEDS_TOTAL',
          `unaccompanied minors ${r.unaccompaniedMinors} exceed children ${r.children}`,
        ),
      });
    }
  });

export const AssessmentRouteSchema = z
  .strictObject({
    period,
    routeSegment,
    riskLevel: code(RISK_LEVELS),
    indicators: z.array(code(RISK_INDICATORS)).max(LIMITS.indicators).default([]),
    summary: text(LIMITS.summaryLength),
  })
  .superRefine((a, ctx) => {
    uniqueItems(ctx, a.indicators, 'indicators');
  });

export const AggregateCellSchema = z.strictObject({
  values: z.array(z.string().max(LIMITS.cellValueLength)).max(LIMITS.dimensions).default([]),
  count: count(),
  suppressed: flag,
  /** Only on a suppressed cell hidden by secondary suppression (a complement); absent otherwise. */
  secondary: z.literal(true).optional(),
});

export const StatsAggregateSchema = z
  .strictObject({
    period,
    sourceType: z
      .string()
      .refine(
        (t) => (SOURCE_EVENT_TYPES as readonly string[]).includes(t),
        issue('UNKNOWN_EVENT_TYPE', 'sourceType must be a source event type of the catalogue'),
      ),
    dimensions: z.array(text(64)).min(1).max(LIMITS.dimensions),
    cells: z.array(AggregateCellSchema).max(LIMITS.cells).default([]),
    minCell: count(1_000).refine((n) => n >= 3, issue('OUT_OF_RANGE', 'minCell must be at least 3')),
  })
  .superRefine((s, ctx) => {
    uniqueItems(ctx, s.dimensions, 'dimensions');
    s.cells.forEach((cell, i) => {
      if (cell.values.length !== s.dimensions.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['cells', i, 'values'],
          ...issue('INCONSISTENT', `a cell needs one value per dimension (${s.dimensions.length})`),
        });
      }
      if (cell.suppressed && cell.count !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['cells', i, 'count'],
          ...issue('INCONSISTENT', 'a suppressed cell carries no count'),
        });
      }
      if (cell.secondary === true && !cell.suppressed) {
        ctx.addIssue({
          code: 'custom',
          path: ['cells', i, 'secondary'],
          ...issue('INCONSISTENT', 'only a suppressed cell is a secondary suppression'),
        });
      }
      if (!cell.suppressed && cell.count < s.minCell) {
        ctx.addIssue({
          code: 'custom',
          path: ['cells', i, 'count'],
          ...issue('INCONSISTENT', `a count below minCell ${s.minCell} must be suppressed`),
        });
      }
    });
  });
