import { describe, expect, it } from 'vitest';

import {
  EVENT_TYPES,
  parseTimestamp,
  validateEvent,
  validateLine,
  type ViolationCode,
} from '../src/index.js';
import { NOW, setAt, validEvents } from './fixtures.js';

function violationsOf(event: unknown): { path: string; code: ViolationCode }[] {
  const r = validateEvent(event, { now: NOW });
  return r.ok ? [] : r.violations.map(({ path, code }) => ({ path, code }));
}

/** [event type, path, new value (undefined deletes), expected code, expected path (default: path)] */
type Case = [string, string, unknown, ViolationCode, string?];

const TOO_LONG_REF = 'R'.repeat(65);
const future = '2024-06-01T12:06:00Z';

const metaCases: Case[] = [
  ['crossing.irregular', 'eventId', undefined, 'REQUIRED'],
  ['crossing.irregular', 'eventId', '0190c0de-0000-4000-8000-000000000001', 'INVALID_FORMAT'],
  ['crossing.irregular', 'eventId', '0190C0DE-0000-7000-8000-000000000001', 'INVALID_FORMAT'],
  ['crossing.irregular', 'eventId', 42, 'INVALID_TYPE'],
  ['crossing.irregular', 'origin', 'GB', 'UNKNOWN_PARTNER'],
  ['crossing.irregular', 'origin', 'mk', 'UNKNOWN_PARTNER'],
  ['crossing.irregular', 'origin', undefined, 'REQUIRED'],
  ['crossing.irregular', 'type', 'crossing.regular', 'UNKNOWN_EVENT_TYPE'],
  ['crossing.irregular', 'type', 'smuggling.incident', 'REQUIRED', 'smugglingIncident'],
  ['crossing.irregular', 'schemaVersion', 2, 'UNSUPPORTED_SCHEMA_VERSION'],
  ['crossing.irregular', 'schemaVersion', '1', 'INVALID_TYPE'],
  ['crossing.irregular', 'schemaVersion', undefined, 'REQUIRED'],
  ['crossing.irregular', 'occurredAt', '2024-05-31 22:15:00', 'INVALID_FORMAT'],
  ['crossing.irregular', 'occurredAt', '2024-02-30T10:00:00Z', 'INVALID_FORMAT'],
  ['crossing.irregular', 'occurredAt', '2024-05-31T22:15:00+02:00', 'INVALID_FORMAT'],
  ['crossing.irregular', 'occurredAt', '2014-12-31T23:59:59Z', 'DATE_TOO_EARLY'],
  ['crossing.irregular', 'occurredAt', future, 'DATE_IN_FUTURE'],
  ['crossing.irregular', 'occurredAt', undefined, 'REQUIRED'],
  ['crossing.irregular', 'recordedAt', future, 'DATE_IN_FUTURE'],
  ['crossing.irregular', 'recordedAt', '2024-05-31T22:14:59Z', 'DATE_ORDER'],
  ['crossing.irregular', 'recordedAt', '', 'INVALID_FORMAT'],
  ['crossing.irregular', 'name', 'Ahmed', 'UNKNOWN_FIELD'],
  ['crossing.irregular', 'crossingIrregular.persons[0].passportNumber', 'X1234567', 'UNKNOWN_FIELD'],
  ['crossing.irregular', 'crossingIrregular.persons[0].fingerprint', 'base64', 'UNKNOWN_FIELD'],
  ['crossing.irregular', 'crossingIrregular', undefined, 'REQUIRED'],
  [
    'crossing.irregular',
    'smugglingIncident',
    validEvents()['smuggling.incident'].smugglingIncident,
    'TYPE_BODY_MISMATCH',
  ],
];

const personCases: Case[] = [
  ['crossing.irregular', 'crossingIrregular.persons[0].subjectRef', 'A3F1', 'INVALID_FORMAT'],
  ['crossing.irregular', 'crossingIrregular.persons[0].subjectRef', 'Ahmed Al-Hassan', 'INVALID_FORMAT'],
  ['crossing.irregular', 'crossingIrregular.persons[0].subjectRef', 'A'.repeat(64), 'INVALID_FORMAT'],
  ['crossing.irregular', 'crossingIrregular.persons[0].citizenship', 'SY', 'UNKNOWN_COUNTRY'],
  ['crossing.irregular', 'crossingIrregular.persons[0].citizenship', 'ZZZ', 'UNKNOWN_COUNTRY'],
  ['crossing.irregular', 'crossingIrregular.persons[0].citizenship', undefined, 'REQUIRED'],
  ['crossing.irregular', 'crossingIrregular.persons[0].sex', 'male', 'INVALID_CODE'],
  ['crossing.irregular', 'crossingIrregular.persons[0].sex', undefined, 'REQUIRED'],
  ['crossing.irregular', 'crossingIrregular.persons[0].ageBand', '18-35', 'INVALID_CODE'],
  ['crossing.irregular', 'crossingIrregular.persons[0].ageBand', 27, 'INVALID_TYPE'],
  ['crossing.irregular', 'crossingIrregular.persons[0].unaccompaniedMinor', 'yes', 'INVALID_TYPE'],
  ['crossing.irregular', 'crossingIrregular.persons[0].unaccompaniedMinor', true, 'INCONSISTENT'],
  [
    'crossing.irregular',
    'crossingIrregular.persons[1].ageBand',
    '35-64',
    'INCONSISTENT',
    'crossingIrregular.persons[1].unaccompaniedMinor',
  ],
  ['trafficking.victim', 'traffickingVictim.person', undefined, 'REQUIRED'],
  ['trafficking.victim', 'traffickingVictim.person.citizenship', 'XKX ', 'UNKNOWN_COUNTRY'],
];

const bodyCases: Case[] = [
  ['crossing.irregular', 'crossingIrregular.borderSection', '', 'REQUIRED'],
  ['crossing.irregular', 'crossingIrregular.borderSection', 'x'.repeat(65), 'TOO_LONG'],
  ['crossing.irregular', 'crossingIrregular.borderSection', 'MK<script>', 'INVALID_FORMAT'],
  ['crossing.irregular', 'crossingIrregular.routeSegment', 'GR-GR', 'INVALID_ROUTE_SEGMENT'],
  ['crossing.irregular', 'crossingIrregular.routeSegment', 'GRC-MKD', 'INVALID_ROUTE_SEGMENT'],
  ['crossing.irregular', 'crossingIrregular.routeSegment', 'QQ-MK', 'INVALID_ROUTE_SEGMENT'],
  ['crossing.irregular', 'crossingIrregular.direction', 'north', 'INVALID_CODE'],
  ['crossing.irregular', 'crossingIrregular.location.lat', 91, 'OUT_OF_RANGE'],
  ['crossing.irregular', 'crossingIrregular.location.lon', -181, 'OUT_OF_RANGE'],
  ['crossing.irregular', 'crossingIrregular.location.alt', 300, 'UNKNOWN_FIELD'],
  ['crossing.irregular', 'crossingIrregular.persons', [], 'TOO_FEW'],
  ['crossing.irregular', 'crossingIrregular.persons', 'three', 'INVALID_TYPE'],
  ['crossing.irregular', 'crossingIrregular.facilitatorSuspected', 1, 'INVALID_TYPE'],
  ['crossing.irregular', 'crossingIrregular.detectionMethod', 'drone', 'INVALID_CODE'],
  ['smuggling.incident', 'smugglingIncident.migrantsCount', -1, 'OUT_OF_RANGE'],
  ['smuggling.incident', 'smugglingIncident.migrantsCount', 2.5, 'INVALID_TYPE'],
  ['smuggling.incident', 'smugglingIncident.migrantsCount', 10_001, 'OUT_OF_RANGE'],
  ['smuggling.incident', 'smugglingIncident.facilitatorsApprehended', '2', 'INVALID_TYPE'],
  ['smuggling.incident', 'smugglingIncident.modusOperandi', 'teleport', 'INVALID_CODE'],
  ['smuggling.incident', 'smugglingIncident.vehicleType', 'plane', 'INVALID_CODE'],
  ['smuggling.incident', 'smugglingIncident.caseRef', TOO_LONG_REF, 'TOO_LONG'],
  ['smuggling.incident', 'smugglingIncident.caseRef', 'case 42', 'INVALID_FORMAT'],
  ['smuggling.incident', 'smugglingIncident.caseRef', undefined, 'REQUIRED'],
  ['smuggling.incident', 'smugglingIncident.routeSegment', undefined, 'REQUIRED'],
  ['trafficking.victim', 'traffickingVictim.exploitationType', 'organ', 'INVALID_CODE'],
  ['trafficking.victim', 'traffickingVictim.identifiedBy', 'press', 'INVALID_CODE'],
  ['trafficking.victim', 'traffickingVictim.referredToAssistance', null, 'INVALID_TYPE'],
  ['asylum.application', 'asylumApplication.applicationRef', '', 'REQUIRED'],
  ['asylum.application', 'asylumApplication.countryOfOrigin', 'Syria', 'UNKNOWN_COUNTRY'],
  ['asylum.application', 'asylumApplication.firstEntryCountry', 'XXX', 'UNKNOWN_COUNTRY'],
  ['asylum.application', 'asylumApplication.familySize', 0, 'OUT_OF_RANGE'],
  ['asylum.application', 'asylumApplication.familySize', 51, 'OUT_OF_RANGE'],
  ['asylum.decision', 'asylumDecision.instance', 'supreme', 'INVALID_CODE'],
  ['asylum.decision', 'asylumDecision.outcome', 'granted', 'INVALID_CODE'],
  ['asylum.decision', 'asylumDecision.applicationRef', TOO_LONG_REF, 'TOO_LONG'],
  ['residence.humanitarian', 'residenceHumanitarian.permitType', 'visa', 'INVALID_CODE'],
  ['residence.humanitarian', 'residenceHumanitarian.validUntil', '2025-13-01', 'INVALID_FORMAT'],
  ['residence.humanitarian', 'residenceHumanitarian.validUntil', '2024-05-30', 'DATE_ORDER'],
  ['residence.humanitarian', 'residenceHumanitarian.validUntil', '2014-05-30', 'DATE_TOO_EARLY'],
  ['return.decision', 'returnDecision.returnType', 'deportation', 'INVALID_CODE'],
  ['return.decision', 'returnDecision.destinationCountry', 'XXX', 'UNKNOWN_COUNTRY'],
  ['return.executed', 'returnExecuted.destinationCountry', 'MA', 'UNKNOWN_COUNTRY'],
  ['return.executed', 'returnExecuted.person', undefined, 'REQUIRED'],
  ['readmission.request', 'readmissionRequest.requestedState', 'MK', 'INCONSISTENT'],
  ['readmission.request', 'readmissionRequest.requestingState', 'XX', 'UNKNOWN_PARTNER'],
  ['readmission.request', 'readmissionRequest.evidence', [], 'TOO_FEW'],
  ['readmission.request', 'readmissionRequest.evidence', Array(11).fill('other'), 'TOO_MANY'],
  ['readmission.request', 'readmissionRequest.evidence[1]', 'apprehension-report', 'DUPLICATE_VALUE'],
  ['readmission.request', 'readmissionRequest.evidence[0]', 'dna', 'INVALID_CODE'],
  ['readmission.request', 'readmissionRequest.deadline', '2024-05-31T22:15:00Z', 'DATE_ORDER'],
  ['readmission.request', 'readmissionRequest.deadline', 'tomorrow', 'INVALID_FORMAT'],
  [
    'readmission.response',
    'readmissionResponse.outcome',
    'accepted',
    'INCONSISTENT',
    'readmissionResponse.reason',
  ],
  ['readmission.response', 'readmissionResponse.outcome', 'maybe', 'INVALID_CODE'],
  ['readmission.response', 'readmissionResponse.reason', 'tired', 'INVALID_CODE'],
  ['readmission.response', 'readmissionResponse.requestedState', 'AL', 'INCONSISTENT'],
  ['reception.capacity', 'receptionCapacity.occupancy', 401, 'OCCUPANCY_EXCEEDS_CAPACITY'],
  ['reception.capacity', 'receptionCapacity.children', 213, 'COUNT_EXCEEDS_TOTAL'],
  ['reception.capacity', 'receptionCapacity.unaccompaniedMinors', 62, 'COUNT_EXCEEDS_TOTAL'],
  ['reception.capacity', 'receptionCapacity.capacity', 100_001, 'OUT_OF_RANGE'],
  ['reception.capacity', 'receptionCapacity.facilityType', 'hotel', 'INVALID_CODE'],
  ['reception.capacity', 'receptionCapacity.facilityId', '../etc', 'INVALID_FORMAT'],
  ['assessment.route', 'assessmentRoute.period', '2024-W54', 'INVALID_FORMAT'],
  ['assessment.route', 'assessmentRoute.period', '2024-13', 'INVALID_FORMAT'],
  ['assessment.route', 'assessmentRoute.period', '2014-12', 'DATE_TOO_EARLY'],
  ['assessment.route', 'assessmentRoute.period', '2024-07', 'DATE_IN_FUTURE'],
  ['assessment.route', 'assessmentRoute.riskLevel', 'extreme', 'INVALID_CODE'],
  ['assessment.route', 'assessmentRoute.indicators[1]', 'increased-detections', 'DUPLICATE_VALUE'],
  ['assessment.route', 'assessmentRoute.indicators', Array(11).fill('other'), 'TOO_MANY'],
  ['assessment.route', 'assessmentRoute.summary', 's'.repeat(2001), 'TOO_LONG'],
  ['assessment.route', 'assessmentRoute.summary', '', 'REQUIRED'],
  ['stats.aggregate', 'statsAggregate.sourceType', 'stats.aggregate', 'UNKNOWN_EVENT_TYPE'],
  ['stats.aggregate', 'statsAggregate.minCell', 2, 'OUT_OF_RANGE'],
  ['stats.aggregate', 'statsAggregate.dimensions', [], 'TOO_FEW'],
  ['stats.aggregate', 'statsAggregate.dimensions[1]', 'routeSegment', 'DUPLICATE_VALUE'],
  ['stats.aggregate', 'statsAggregate.cells[0].values', ['GR-MK'], 'INCONSISTENT'],
  ['stats.aggregate', 'statsAggregate.cells[0].count', 4, 'INCONSISTENT'],
  ['stats.aggregate', 'statsAggregate.cells[1].count', 3, 'INCONSISTENT'],
  ['stats.aggregate', 'statsAggregate.cells[0].secondary', true, 'INCONSISTENT'],
  ['stats.aggregate', 'statsAggregate.period', '2024-5', 'INVALID_FORMAT'],
];

describe('validateEvent', () => {
  it.each(EVENT_TYPES)('accepts a valid %s event', (type) => {
    expect(violationsOf(validEvents()[type])).toEqual([]);
  });

  it('returns the event with proto3 defaults filled in when fields are omitted', () => {
    const e = validEvents()['smuggling.incident'];
    const body = e.smugglingIncident as Record<string, unknown>;
    delete body.facilitatorsApprehended;
    delete body.location;
    delete body.vehicleType;
    const r = validateEvent(e, { now: NOW });
    expect(r.ok && r.event.smugglingIncident).toEqual({ ...body, facilitatorsApprehended: 0 });
  });

  describe.each([
    ['envelope', metaCases],
    ['person', personCases],
    ['bodies', bodyCases],
  ] as const)('%s rules', (_name, cases) => {
    it.each(cases)('%s: %s = %j → %s', (type, path, value, code, at) => {
      const event = validEvents()[type as keyof ReturnType<typeof validEvents>];
      setAt(event, path, value);
      expect(violationsOf(event)).toContainEqual({ path: at ?? path, code });
    });
  });

  it('accepts secondary: true on a suppressed aggregate cell (a complement), absent elsewhere', () => {
    const event = validEvents()['stats.aggregate'];
    setAt(event, 'statsAggregate.cells[1].secondary', true);
    expect(violationsOf(event)).toEqual([]);
  });

  it('reports every violation of an event at once', () => {
    const event = validEvents()['crossing.irregular'];
    setAt(event, 'origin', 'ZZ');
    setAt(event, 'crossingIrregular.persons[0].citizenship', 'ABC');
    setAt(event, 'crossingIrregular.persons[2].sex', 'female');
    setAt(event, 'crossingIrregular.direction', 'up');
    setAt(event, 'nickname', 'x');
    expect(violationsOf(event)).toEqual(
      expect.arrayContaining([
        { path: 'origin', code: 'UNKNOWN_PARTNER' },
        { path: 'crossingIrregular.persons[0].citizenship', code: 'UNKNOWN_COUNTRY' },
        { path: 'crossingIrregular.persons[2].sex', code: 'INVALID_CODE' },
        { path: 'crossingIrregular.direction', code: 'INVALID_CODE' },
        { path: 'nickname', code: 'UNKNOWN_FIELD' },
      ]),
    );
    expect(violationsOf(event)).toHaveLength(5);
  });

  it('rejects an event with two bodies and no type', () => {
    const event = validEvents()['crossing.irregular'];
    setAt(event, 'type', undefined);
    setAt(event, 'smugglingIncident', validEvents()['smuggling.incident'].smugglingIncident);
    expect(violationsOf(event)).toEqual(
      expect.arrayContaining([
        { path: 'type', code: 'REQUIRED' },
        { path: 'crossingIrregular', code: 'MULTIPLE_BODIES' },
        { path: 'smugglingIncident', code: 'MULTIPLE_BODIES' },
      ]),
    );
  });

  it('rejects an event with no body at all', () => {
    const event = validEvents()['crossing.irregular'];
    setAt(event, 'type', 'no.such');
    setAt(event, 'crossingIrregular', undefined);
    expect(violationsOf(event)).toContainEqual({ path: 'body', code: 'REQUIRED' });
  });

  it.each([null, 42, 'event', [1, 2]])('rejects %j as not an event object', (input) => {
    expect(violationsOf(input)).toEqual([{ path: '', code: 'INVALID_JSON' }]);
  });

  it('allows a clock running up to five minutes ahead, and a configurable skew', () => {
    const event = validEvents()['crossing.irregular'];
    setAt(event, 'occurredAt', '2024-06-01T12:04:00Z');
    setAt(event, 'recordedAt', '2024-06-01T12:04:00Z');
    expect(validateEvent(event, { now: NOW }).ok).toBe(true);
    expect(validateEvent(event, { now: NOW, clockSkewMs: 60_000 }).ok).toBe(false);
  });
});

describe('validateLine', () => {
  it('accepts a valid NDJSON line', () => {
    expect(validateLine(JSON.stringify(validEvents()['asylum.decision']), { now: NOW }).ok).toBe(true);
  });

  it.each(['{"eventId":', '', 'nul', '{"a":1}}'])('reports %j as INVALID_JSON', (line) => {
    const r = validateLine(line, { now: NOW });
    expect(r.ok ? [] : r.violations.map((v) => v.code)).toEqual(['INVALID_JSON']);
  });
});

describe('parseTimestamp', () => {
  it.each([
    '2024-02-29T23:59:59Z',
    '2024-05-31T22:15:00.1Z',
    '2024-05-31T22:15:00.123Z',
    '2024-05-31T22:15:00.123456789Z',
    '2000-02-29T00:00:00Z',
  ])('agrees with Date.parse on %s', (s) => {
    expect(parseTimestamp(s)).toBe(Date.parse(s));
  });

  it.each([
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:60:00Z',
    '2024-01-01T00:00:60Z',
    '2024-13-01T00:00:00Z',
    '2024-00-10T00:00:00Z',
    '2024-01-00T00:00:00Z',
    '2024-01-01T00:00:00.Z',
    '2024-01-01T00:00:00.1234567890Z',
    '2024-01-01T00:00:00',
  ])('refuses %s', (s) => {
    expect(parseTimestamp(s)).toBeUndefined();
  });
});
