import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  AGE_BANDS,
  ALPHA3_CODES,
  BORDER_TYPES,
  DECISION_INSTANCES,
  DECISION_OUTCOMES,
  DETECTION_METHODS,
  DIRECTIONS,
  DOCUMENT_TYPES,
  EVENT_TYPES,
  EVIDENCE_TYPES,
  EXPLOITATION_TYPES,
  FACILITY_TYPES,
  FRAUD_TYPES,
  IDENTIFIED_BY,
  isCitizenship,
  isPartnerCode,
  isRouteSegment,
  MODI_OPERANDI,
  PERMIT_TYPES,
  READMISSION_OUTCOMES,
  READMISSION_REJECTION_REASONS,
  REFUSAL_GROUNDS,
  RETURN_TYPES,
  RISK_INDICATORS,
  RISK_LEVELS,
  SEXES,
  STAY_BASES,
  STAY_DETECTED_ON,
  validateEvent,
  VEHICLE_TYPES,
  type ViolationCode,
} from '../src/index.js';
import { NOW, setAt, validEvents } from './fixtures.js';

type Mutation = fc.Arbitrary<{ value: unknown; codes: ViolationCode[] }>;
const bad = (arb: fc.Arbitrary<unknown>, ...codes: ViolationCode[]): Mutation =>
  arb.map((value) => ({ value, codes }));

const outside = (vocab: readonly string[]): Mutation =>
  bad(
    fc.string({ maxLength: 20 }).filter((s) => !vocab.includes(s)),
    'INVALID_CODE',
  );
const notCountry = bad(
  fc.string({ maxLength: 5 }).filter((s) => !ALPHA3_CODES.has(s)),
  'UNKNOWN_COUNTRY',
);
const notCitizenship = bad(
  fc.string({ maxLength: 5 }).filter((s) => !isCitizenship(s)),
  'UNKNOWN_COUNTRY',
);
const notPartner = bad(
  fc.string({ maxLength: 8 }).filter((s) => !isPartnerCode(s)),
  'UNKNOWN_PARTNER',
);
const notRoute = bad(
  fc
    .oneof(fc.string({ maxLength: 7 }), fc.constantFrom('MK-MK', 'QQ-MK', 'mk-rs', 'GRC-MKD'))
    .filter((s) => !isRouteSegment(s)),
  'INVALID_ROUTE_SEGMENT',
);
const negative = bad(fc.integer({ min: -1_000_000, max: -1 }), 'OUT_OF_RANGE');
const fraction = bad(
  fc.double({ min: 0.001, max: 1e6, noNaN: true }).filter((n) => !Number.isInteger(n)),
  'INVALID_TYPE',
);
const count = (cap: number): Mutation =>
  fc.oneof(negative, fraction, bad(fc.integer({ min: cap + 1, max: 2 ** 40 }), 'OUT_OF_RANGE'));
const malformedRef = bad(
  fc.oneof(
    fc.string({ minLength: 65, maxLength: 80 }).map((s) => `R${s}`),
    fc.string({ maxLength: 10 }).map((s) => `x#y${s}`),
  ),
  'INVALID_FORMAT',
  'TOO_LONG',
);
const malformedTimestamp = bad(
  fc.oneof(
    fc.string({ maxLength: 30 }).filter((s) => !/^\d{4}-\d{2}-\d{2}T/.test(s)),
    fc
      .date({ min: new Date('2000-01-01'), max: new Date('2014-12-31'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    fc
      .date({ min: new Date('2024-06-02'), max: new Date('2099-12-31'), noInvalidDate: true })
      .map((d) => d.toISOString()),
  ),
  'INVALID_FORMAT',
  'DATE_TOO_EARLY',
  'DATE_IN_FUTURE',
  'DATE_ORDER',
);
const notHex64 = bad(
  fc.string({ maxLength: 70 }).filter((s) => !/^[0-9a-f]{64}$/.test(s)),
  'INVALID_FORMAT',
);

/** Out-of-domain values by field name (array items by their list's name). */
const DOMAINS: Record<string, Mutation> = {
  eventId: bad(fc.oneof(fc.uuid({ version: 4 }), fc.string({ maxLength: 40 })), 'INVALID_FORMAT'),
  origin: notPartner,
  requestingState: notPartner,
  requestedState: notPartner,
  type: bad(
    fc.string({ maxLength: 25 }).filter((s) => !(EVENT_TYPES as string[]).includes(s)),
    'UNKNOWN_EVENT_TYPE',
  ),
  schemaVersion: bad(
    fc.integer().filter((n) => n !== 1),
    'UNSUPPORTED_SCHEMA_VERSION',
  ),
  occurredAt: malformedTimestamp,
  recordedAt: malformedTimestamp,
  originalEventId: bad(fc.constantFrom('018f0000-0000-4000-8000-000000000001', 'x', ''), 'INVALID_FORMAT'),
  deadline: bad(
    fc.constantFrom('2024-06-15', 'soon', '2024-06-15T25:00:00Z', '2014-06-15T10:00:00Z'),
    'INVALID_FORMAT',
    'DATE_TOO_EARLY',
    'DATE_ORDER',
  ),
  validUntil: bad(
    fc.constantFrom('2025-02-30', '31.05.2025', '2014-01-01', '2024-05-01'),
    'INVALID_FORMAT',
    'DATE_TOO_EARLY',
    'DATE_ORDER',
  ),
  period: bad(
    fc.constantFrom('2024', '2024-W00', '2024-W60', '2024-00', '2031-01', '2014-W10'),
    'INVALID_FORMAT',
    'DATE_IN_FUTURE',
    'DATE_TOO_EARLY',
  ),
  subjectRef: notHex64,
  citizenship: notCitizenship,
  countryOfOrigin: notCitizenship,
  firstEntryCountry: notCountry,
  destinationCountry: notCountry,
  sex: outside(SEXES),
  ageBand: outside(AGE_BANDS),
  routeSegment: notRoute,
  direction: outside(DIRECTIONS),
  detectionMethod: outside(DETECTION_METHODS),
  modusOperandi: outside(MODI_OPERANDI),
  vehicleType: outside(VEHICLE_TYPES),
  exploitationType: outside(EXPLOITATION_TYPES),
  identifiedBy: outside(IDENTIFIED_BY),
  instance: outside(DECISION_INSTANCES),
  outcome: fc.oneof(outside(DECISION_OUTCOMES), outside(READMISSION_OUTCOMES)).map((m) => ({
    value: m.value,
    codes: ['INVALID_CODE', 'INCONSISTENT'] as ViolationCode[],
  })),
  reason: outside(READMISSION_REJECTION_REASONS),
  permitType: outside(PERMIT_TYPES),
  returnType: outside(RETURN_TYPES),
  evidence: outside(EVIDENCE_TYPES),
  facilityType: outside(FACILITY_TYPES),
  riskLevel: outside(RISK_LEVELS),
  indicators: outside(RISK_INDICATORS),
  caseRef: malformedRef,
  applicationRef: malformedRef,
  requestRef: malformedRef,
  facilityId: malformedRef,
  borderSection: malformedRef,
  borderType: outside(BORDER_TYPES),
  ground: outside(REFUSAL_GROUNDS),
  detectedOn: outside(STAY_DETECTED_ON),
  stayBasis: outside(STAY_BASES),
  documentType: outside(DOCUMENT_TYPES),
  fraudType: outside(FRAUD_TYPES),
  documentCountry: notCountry,
  lat: bad(
    fc.oneof(
      fc.double({ min: 90.0001, max: 1e9, noNaN: true }),
      fc.double({ max: -90.0001, min: -1e9, noNaN: true }),
    ),
    'OUT_OF_RANGE',
  ),
  lon: bad(
    fc.oneof(
      fc.double({ min: 180.0001, max: 1e9, noNaN: true }),
      fc.double({ max: -180.0001, min: -1e9, noNaN: true }),
    ),
    'OUT_OF_RANGE',
  ),
  migrantsCount: count(10_000),
  facilitatorsApprehended: count(1_000),
  familySize: fc.oneof(count(50), bad(fc.constant(0), 'OUT_OF_RANGE')),
  capacity: count(100_000).map((m) => ({
    ...m,
    codes: [...m.codes, 'OCCUPANCY_EXCEEDS_CAPACITY'] as ViolationCode[],
  })),
  occupancy: count(100_000).map((m) => ({
    ...m,
    codes: [...m.codes, 'OCCUPANCY_EXCEEDS_CAPACITY', 'COUNT_EXCEEDS_TOTAL'] as ViolationCode[],
  })),
  children: count(100_000).map((m) => ({
    ...m,
    codes: [...m.codes, 'COUNT_EXCEEDS_TOTAL'] as ViolationCode[],
  })),
  unaccompaniedMinors: count(100_000).map((m) => ({
    ...m,
    codes: [...m.codes, 'COUNT_EXCEEDS_TOTAL'] as ViolationCode[],
  })),
  summary: bad(fc.string({ minLength: 2001, maxLength: 2100 }), 'TOO_LONG'),
  minCell: fc.oneof(count(1_000), bad(fc.integer({ min: 0, max: 2 }), 'OUT_OF_RANGE')),
  count: fc.oneof(negative, fraction),
  unaccompaniedMinor: bad(fc.oneof(fc.string(), fc.integer()), 'INVALID_TYPE'),
  facilitatorSuspected: bad(fc.oneof(fc.string(), fc.integer()), 'INVALID_TYPE'),
  referredToAssistance: bad(fc.oneof(fc.string(), fc.integer()), 'INVALID_TYPE'),
  suppressed: bad(fc.oneof(fc.string(), fc.integer()), 'INVALID_TYPE'),
  sourceType: bad(fc.string({ maxLength: 20 }), 'UNKNOWN_EVENT_TYPE'),
  dimensions: bad(fc.string({ minLength: 65, maxLength: 70 }), 'TOO_LONG'),
  values: bad(fc.string({ minLength: 65, maxLength: 70 }), 'TOO_LONG'),
};

interface Leaf {
  path: string;
  field: string;
  value: unknown;
}

function leaves(value: unknown, path = '', field = ''): Leaf[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, `${path}[${i}]`, field));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, path === '' ? k : `${path}.${k}`, k));
  }
  return [{ path, field, value }];
}

function objectPaths(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => objectPaths(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return [
    path,
    ...Object.entries(value).flatMap(([k, v]) => objectPaths(v, path === '' ? k : `${path}.${k}`)),
  ];
}

const fixtures = Object.values(validEvents());
const allLeaves = fixtures.flatMap((event, index) => leaves(event).map((leaf) => ({ index, leaf })));

describe('validateEvent (property)', () => {
  it('knows an out-of-domain mutation for every leaf field of every fixture', () => {
    const missing = [...new Set(allLeaves.map(({ leaf }) => leaf.field))].filter((f) => !(f in DOMAINS));
    expect(missing).toEqual([]);
  });

  it('catches every single-field mutation outside its domain, at that field', () => {
    const mutation = fc
      .constantFrom(...allLeaves)
      .chain(({ index, leaf }) => DOMAINS[leaf.field]!.map((m) => ({ index, leaf, ...m })));
    fc.assert(
      fc.property(mutation, ({ index, leaf, value, codes }) => {
        const event = structuredClone(fixtures[index]!);
        setAt(event, leaf.path, value);
        const r = validateEvent(event, { now: NOW });
        expect(r.ok).toBe(false);
        const here = r.ok
          ? []
          : r.violations.filter(
              (v) => v.path === leaf.path || v.path.startsWith(`${leaf.path.replace(/\.[^.[]+$/, '')}.`),
            );
        expect(here.some((v) => codes.includes(v.code))).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });

  it('catches a wrong JSON type at any leaf', () => {
    const mutation = fc
      .constantFrom(...allLeaves)
      .chain(({ index, leaf }) =>
        (typeof leaf.value === 'string'
          ? fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant({}))
          : fc.oneof(fc.string(), fc.constant(null), fc.constant([]))
        ).map((value) => ({ index, leaf, value })),
      );
    fc.assert(
      fc.property(mutation, ({ index, leaf, value }) => {
        const event = structuredClone(fixtures[index]!);
        setAt(event, leaf.path, value);
        const r = validateEvent(event, { now: NOW });
        expect(r.ok).toBe(false);
        expect(r.ok ? [] : r.violations.map((v) => v.path)).toContain(leaf.path);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses an unknown field added to any object of any fixture', () => {
    const objects = fixtures.flatMap((event, index) => objectPaths(event).map((path) => ({ index, path })));
    fc.assert(
      fc.property(
        fc.constantFrom(...objects),
        fc.constantFrom('name', 'surname', 'passportNumber', 'dateOfBirth', 'fingerprint', 'photo', 'x'),
        ({ index, path }, key) => {
          const event = structuredClone(fixtures[index]!);
          const at = path === '' ? key : `${path}.${key}`;
          setAt(event, at, 'value');
          const r = validateEvent(event, { now: NOW });
          expect(r.ok ? [] : r.violations).toContainEqual(
            expect.objectContaining({ path: at, code: 'UNKNOWN_FIELD' }),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
