/**
 * What a figure counts. Aggregates with a person dimension (`persons.citizenship`, `person.sex`) count
 * the persons the events carry, once per event they appear in (a person detected twice counts twice:
 * subject references are pseudonymous and not de-duplicated); the others count events, named after
 * what an event of the type is. Figures of different units are never added.
 */
export type Unit =
  'persons' | 'detections' | 'incidents' | 'applications' | 'decisions' | 'refusals' | 'events';

const EVENT_UNITS: Readonly<Record<string, Unit>> = {
  'crossing.irregular': 'detections',
  'smuggling.incident': 'incidents',
  'asylum.application': 'applications',
  'asylum.decision': 'decisions',
  'return.decision': 'decisions',
  'entry.refusal': 'refusals',
  'stay.illegal': 'detections',
  'document.fraud': 'detections',
};

/** Whether a dimension is an attribute of the persons of an event (`persons.x`, `person.x`). */
export function isPersonDimension(dimension: string): boolean {
  return dimension.startsWith('persons.') || dimension.startsWith('person.');
}

/** The unit of the cells of an aggregate of `sourceType` over `dimensions`. */
export function unitOf(sourceType: string, dimensions: readonly string[]): Unit {
  if (dimensions.some(isPersonDimension)) return 'persons';
  return EVENT_UNITS[sourceType] ?? 'events';
}
