import {
  bodyFields,
  DISCLOSED_EVENT_FIELDS,
  isEventType,
  PERSON_ATTRIBUTES,
  PERSON_FIELDS,
  type EventType,
} from '@wbx/schema';

/**
 * Body fields with a small closed set of values (codes, countries, partners, route segments, flags):
 * the only fields an aggregate may count by or a where-condition may test. References, free text,
 * counts, dates and locations are not among them, so neither can single anyone out.
 */
export const CATEGORICAL_FIELDS: readonly string[] = [
  'borderSection',
  'routeSegment',
  'direction',
  'facilitatorSuspected',
  'detectionMethod',
  'modusOperandi',
  'vehicleType',
  'exploitationType',
  'referredToAssistance',
  'identifiedBy',
  'countryOfOrigin',
  'firstEntryCountry',
  'instance',
  'outcome',
  'permitType',
  'returnType',
  'destinationCountry',
  'requestingState',
  'requestedState',
  'reason',
  'facilityType',
  'riskLevel',
  'crossingPoint',
  'borderType',
  'ground',
  'detectedOn',
  'stayBasis',
  'documentType',
  'fraudType',
  'documentCountry',
];

/** Person attributes an aggregate may count by: all but the pseudonymous reference. */
export const PERSON_DIMENSIONS: readonly string[] = PERSON_ATTRIBUTES.filter((a) => a !== 'subjectRef');

const recordPathCache = new Map<EventType, readonly string[]>();

/**
 * Every disclosure path of a type, as `disclose()` understands them: `occurredAt`, `recordedAt`, each
 * body field, and `persons.<attribute>` / `person.<attribute>` for the person fields.
 */
export function recordPaths(type: EventType): readonly string[] {
  let paths = recordPathCache.get(type);
  if (paths === undefined) {
    const fields = bodyFields(type);
    paths = [
      ...DISCLOSED_EVENT_FIELDS,
      ...fields,
      ...fields
        .filter((f) => PERSON_FIELDS.includes(f))
        .flatMap((f) => PERSON_ATTRIBUTES.map((a) => `${f}.${a}`)),
    ];
    recordPathCache.set(type, paths);
  }
  return paths;
}

/** Whether `path` is a disclosure path of `type`. */
export function isRecordPath(type: string, path: string): boolean {
  return isEventType(type) && recordPaths(type).includes(path);
}

/** The person field of a type (`persons` or `person`), if it has one. */
export function personField(type: EventType): string | undefined {
  return bodyFields(type).find((f) => PERSON_FIELDS.includes(f));
}

/** The person attribute a dimension names (`persons.sex` → `sex`), if it is a person dimension. */
export function personAttribute(dimension: string): string | undefined {
  const dot = dimension.indexOf('.');
  if (dot === -1 || !PERSON_FIELDS.includes(dimension.slice(0, dot))) return undefined;
  const attr = dimension.slice(dot + 1);
  return PERSON_DIMENSIONS.includes(attr) ? attr : undefined;
}

/**
 * Whether an aggregate of `type` can count by `dimension`: a categorical body field of the type, or a
 * person attribute (`persons.<attr>` and `person.<attr>` alike) of a type that carries persons.
 */
export function isDimension(type: string, dimension: string): boolean {
  if (!isEventType(type)) return false;
  if (personAttribute(dimension) !== undefined) return personField(type) !== undefined;
  return CATEGORICAL_FIELDS.includes(dimension) && bodyFields(type).includes(dimension);
}

/** Whether a where-condition on events of `type` can test `field`: a categorical body field of it. */
export function isWhereField(type: string, field: string): boolean {
  return isEventType(type) && CATEGORICAL_FIELDS.includes(field) && bodyFields(type).includes(field);
}
