import type { Event } from '@wbx/proto';

/** The event catalogue: each type string and the `Event` field that holds its body. */
export const CATALOGUE = {
  'crossing.irregular': 'crossingIrregular',
  'smuggling.incident': 'smugglingIncident',
  'trafficking.victim': 'traffickingVictim',
  'asylum.application': 'asylumApplication',
  'asylum.decision': 'asylumDecision',
  'residence.humanitarian': 'residenceHumanitarian',
  'return.decision': 'returnDecision',
  'return.executed': 'returnExecuted',
  'readmission.request': 'readmissionRequest',
  'readmission.response': 'readmissionResponse',
  'reception.capacity': 'receptionCapacity',
  'assessment.route': 'assessmentRoute',
  'stats.aggregate': 'statsAggregate',
  'record.correction': 'recordCorrection',
  'record.withdrawal': 'recordWithdrawal',
  'entry.refusal': 'entryRefusal',
  'stay.illegal': 'stayIllegal',
  'document.fraud': 'documentFraud',
} as const satisfies Record<string, keyof Event>;

export type EventType = keyof typeof CATALOGUE;
export type BodyKey = (typeof CATALOGUE)[EventType];

export const EVENT_TYPES = Object.keys(CATALOGUE) as EventType[];
export const BODY_KEYS = Object.values(CATALOGUE) as BodyKey[];

/**
 * The event types a ministry system submits as records: `stats.aggregate` is produced by gateways, and
 * `record.correction` / `record.withdrawal` change an event sealed before (they follow it, and no
 * agreement names them).
 */
export const SOURCE_EVENT_TYPES: readonly EventType[] = EVENT_TYPES.filter(
  (t) => t !== 'stats.aggregate' && !t.startsWith('record.'),
);

/** Current body schema version. */
export const SCHEMA_VERSION = 1;

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(CATALOGUE, type);
}
