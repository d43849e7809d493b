import type { EventType } from '../src/index.js';

/** The time tests judge "now" against. */
export const NOW = new Date('2024-06-01T12:00:00Z');

const person = (): Record<string, unknown> => ({
  subjectRef: 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
  citizenship: 'SYR',
  sex: 'M',
  ageBand: '18-34',
  unaccompaniedMinor: false,
});

const meta = (type: EventType, n: number): Record<string, unknown> => ({
  eventId: `01900000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`,
  origin: 'MK',
  type,
  schemaVersion: 1,
  occurredAt: '2024-05-31T22:15:00Z',
  recordedAt: '2024-05-31T23:40:12.345Z',
});

/** One valid event of every catalogue type, in canonical JSON form with every field spelled out. */
export function validEvents(): Record<EventType, Record<string, unknown>> {
  return {
    'crossing.irregular': {
      ...meta('crossing.irregular', 1),
      crossingIrregular: {
        borderSection: 'MK-GR/Gevgelija',
        routeSegment: 'GR-MK',
        direction: 'entry',
        location: { lat: 41.14, lon: 22.5 },
        persons: [
          person(),
          { citizenship: 'AFG', sex: 'M', ageBand: '14-17', unaccompaniedMinor: true },
          { citizenship: 'XXX', sex: 'U', ageBand: 'unknown', unaccompaniedMinor: false },
        ],
        facilitatorSuspected: true,
        detectionMethod: 'patrol',
      },
    },
    'smuggling.incident': {
      ...meta('smuggling.incident', 2),
      smugglingIncident: {
        routeSegment: 'MK-RS',
        location: { lat: 42.2, lon: 21.7 },
        migrantsCount: 23,
        facilitatorsApprehended: 2,
        modusOperandi: 'vehicle-concealment',
        vehicleType: 'truck',
        caseRef: 'MK-SMG-2024/0042',
      },
    },
    'trafficking.victim': {
      ...meta('trafficking.victim', 3),
      traffickingVictim: {
        exploitationType: 'labour',
        person: { ...person(), sex: 'F' },
        referredToAssistance: true,
        identifiedBy: 'ngo',
      },
    },
    'asylum.application': {
      ...meta('asylum.application', 4),
      asylumApplication: {
        applicationRef: 'MK-AS-2024-0193',
        person: person(),
        countryOfOrigin: 'SYR',
        firstEntryCountry: 'GRC',
        familySize: 4,
      },
    },
    'asylum.decision': {
      ...meta('asylum.decision', 5),
      asylumDecision: {
        applicationRef: 'MK-AS-2024-0193',
        instance: 'first',
        outcome: 'subsidiary',
        person: person(),
      },
    },
    'residence.humanitarian': {
      ...meta('residence.humanitarian', 6),
      residenceHumanitarian: {
        permitType: 'temporary-humanitarian',
        validUntil: '2025-05-31',
        person: person(),
      },
    },
    'return.decision': {
      ...meta('return.decision', 7),
      returnDecision: { person: person(), returnType: 'assisted-voluntary', destinationCountry: 'TUR' },
    },
    'return.executed': {
      ...meta('return.executed', 8),
      returnExecuted: { person: person(), returnType: 'forced', destinationCountry: 'MAR' },
    },
    'readmission.request': {
      ...meta('readmission.request', 9),
      readmissionRequest: {
        requestRef: 'MK-RA-2024-017',
        requestingState: 'MK',
        requestedState: 'AL',
        person: person(),
        evidence: ['apprehension-report', 'witness-statement'],
        deadline: '2024-06-15T22:15:00Z',
      },
    },
    'readmission.response': {
      ...meta('readmission.response', 10),
      readmissionResponse: {
        requestRef: 'MK-RA-2024-017',
        requestingState: 'AL',
        requestedState: 'MK',
        outcome: 'rejected',
        reason: 'insufficient-evidence',
      },
    },
    'reception.capacity': {
      ...meta('reception.capacity', 11),
      receptionCapacity: {
        facilityId: 'MK-TC-VINOJUG',
        facilityType: 'reception-transit-centre',
        capacity: 400,
        occupancy: 212,
        children: 61,
        unaccompaniedMinors: 9,
      },
    },
    'assessment.route': {
      ...meta('assessment.route', 12),
      assessmentRoute: {
        period: '2024-W22',
        routeSegment: 'GR-MK',
        riskLevel: 'high',
        indicators: ['increased-detections', 'new-modus-operandi'],
        summary: 'Groups guided on foot near Gevgelija; trucks used northbound.',
      },
    },
    'stats.aggregate': {
      ...meta('stats.aggregate', 13),
      statsAggregate: {
        period: '2024-05',
        sourceType: 'crossing.irregular',
        dimensions: ['routeSegment', 'persons.citizenship'],
        cells: [
          { values: ['GR-MK', 'SYR'], count: 41, suppressed: false },
          { values: ['GR-MK', 'BDI'], count: 0, suppressed: true },
        ],
        minCell: 5,
      },
    },
    'record.correction': {
      ...meta('record.correction', 14),
      recordCorrection: {
        originalEventId: '01900000-0000-7000-8000-000000000001',
        reason: 'wrong-person-attributes',
        corrected: {
          ...meta('crossing.irregular', 1),
          crossingIrregular: {
            borderSection: 'MK-GR/Gevgelija',
            routeSegment: 'GR-MK',
            direction: 'entry',
            persons: [{ ...person(), citizenship: 'AFG' }],
            facilitatorSuspected: false,
            detectionMethod: 'patrol',
          },
        },
      },
    },
    'record.withdrawal': {
      ...meta('record.withdrawal', 15),
      recordWithdrawal: {
        originalEventId: '01900000-0000-7000-8000-000000000001',
        reason: 'recorded-in-error',
      },
    },
    'entry.refusal': {
      ...meta('entry.refusal', 16),
      entryRefusal: {
        borderSection: 'MK-GR/Bogorodica',
        borderType: 'land',
        person: { ...person(), citizenship: 'ALB' },
        ground: 'no-valid-visa',
      },
    },
    'stay.illegal': {
      ...meta('stay.illegal', 17),
      stayIllegal: {
        person: { ...person(), citizenship: 'XXA' },
        detectedOn: 'exit',
        borderSection: 'MK-RS/Tabanovce',
        stayBasis: 'irregular-entry',
      },
    },
    'document.fraud': {
      ...meta('document.fraud', 18),
      documentFraud: {
        borderSection: 'MK-GR/Bogorodica',
        borderType: 'land',
        direction: 'exit',
        person: { ...person(), citizenship: 'TUR' },
        documentType: 'passport',
        fraudType: 'impostor',
        documentCountry: 'BGR',
      },
    },
  };
}

/** Sets the value at a dotted path with [i] indices (creating nothing: the parent must exist). */
export function setAt(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(/\.|\[(\d+)\]/).filter(Boolean);
  let obj: unknown = target;
  for (const key of keys.slice(0, -1)) obj = (obj as Record<string, unknown>)[key];
  const last = keys.at(-1) as string;
  if (value === undefined) Reflect.deleteProperty(obj as object, last);
  else (obj as Record<string, unknown>)[last] = value;
}
