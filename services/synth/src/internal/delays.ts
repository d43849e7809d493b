import type { Random } from '../random.js';
import { MINUTE_MS } from './calendar.js';
import type { SourceType } from './type-mix.js';

/**
 * Median minutes between an event and its record, and the spread (sigma of the logarithm).
 * // assumption: patrol reports follow apprehensions within the hour, investigations take hours to a
 * day, administrative acts are recorded as they are taken.
 */
const DELAYS: Readonly<Record<SourceType, readonly [number, number]>> = {
  'crossing.irregular': [45, 0.8],
  'smuggling.incident': [180, 0.9],
  'trafficking.victim': [720, 1.0],
  'asylum.application': [15, 0.7],
  'asylum.decision': [10, 0.7],
  'residence.humanitarian': [20, 0.7],
  'return.decision': [15, 0.7],
  'return.executed': [60, 0.8],
  'readmission.request': [30, 0.7],
  'readmission.response': [30, 0.7],
  'reception.capacity': [5, 0.5],
  'assessment.route': [60, 0.8],
  'entry.refusal': [20, 0.7],
  'stay.illegal': [60, 0.8],
  'document.fraud': [120, 0.9],
};

/** Milliseconds from occurrence to record, at least one second. */
export function recordingDelay(rng: Random, type: SourceType): number {
  const [median, sigma] = DELAYS[type];
  return Math.max(1000, Math.round(rng.logNormal(Math.log(median * MINUTE_MS), sigma)));
}
