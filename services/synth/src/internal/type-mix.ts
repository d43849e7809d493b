import type { EventType } from '@wbx/schema';

import { RECEPTION_SHARE_BOUNDS, TYPE_WEIGHTS } from '../figures.js';
import type { PartnerProfile } from '../partner-profiles.js';
import type { Random } from '../random.js';
import { DAY_MS, HOUR_MS } from './calendar.js';

/** The event types the generator makes: every catalogue type but stats.aggregate (gateways make those). */
export type SourceType = Exclude<EventType, 'stats.aggregate' | 'record.correction' | 'record.withdrawal'>;

/** When in the week a type of event happens. */
type Clock = 'night' | 'office' | 'morning' | 'any';

const CLOCKS: Readonly<Record<SourceType, Clock>> = {
  'crossing.irregular': 'night',
  'smuggling.incident': 'night',
  'trafficking.victim': 'any',
  'asylum.application': 'office',
  'asylum.decision': 'office',
  'residence.humanitarian': 'office',
  'return.decision': 'office',
  'return.executed': 'office',
  'readmission.request': 'office',
  'readmission.response': 'office',
  'reception.capacity': 'morning',
  'assessment.route': 'office',
  'entry.refusal': 'any',
  'stay.illegal': 'any',
  'document.fraud': 'any',
};

/**
 * Types a non-state partner (an EU agency) does not record: state acts (refusing entry, finding an
 * illegal stay, asylum, return) and reception. Its deployed officers do detect false documents.
 */
const STATE_ONLY: ReadonlySet<SourceType> = new Set([
  'entry.refusal',
  'stay.illegal',
  'asylum.application',
  'asylum.decision',
  'residence.humanitarian',
  'return.decision',
  'return.executed',
  'readmission.request',
  'readmission.response',
  'reception.capacity',
]);

/**
 * Factor of a clock in an hour of the week (UTC; the region is UTC+1/+2), each averaging 1 over the week;
 * balance() then restores the overall shares of TYPE_WEIGHTS exactly. Assumption: crossings are mostly
 * detected at night, offices work weekdays 07–17 local, reception figures are reported in the morning.
 */
function clockFactor(clock: Clock, weekday: number, hour: number): number {
  switch (clock) {
    case 'night':
      return hour >= 18 || hour < 6 ? 1.4 : 0.6;
    case 'office': {
      const open = weekday < 5 && hour >= 6 && hour < 16;
      return open ? (168 - 118 * 0.03) / 50 : 0.03;
    }
    case 'morning':
      return hour >= 5 && hour < 9 ? 6 : 0;
    case 'any':
      return 1;
  }
}

/**
 * Per-type scale factors such that, averaged over the hours of the week, each type's share of events
 * equals its share of `targets` although the clocks make the mix differ from hour to hour (a few rounds
 * of iterative proportional fitting).
 */
function balance(targets: readonly number[], table: (scale: readonly number[]) => number[][]): number[] {
  const total = targets.reduce((a, b) => a + b, 0);
  const scale = targets.map(() => 1);
  for (let round = 0; round < 30; round++) {
    const achieved = targets.map(() => 0);
    for (const row of table(scale)) {
      const sum = row.reduce((a, b) => a + b, 0);
      row.forEach((w, i) => (achieved[i] = (achieved[i] ?? 0) + w / sum / 168));
    }
    targets.forEach((target, i) => {
      const a = achieved[i] ?? 0;
      if (a > 0) scale[i] = (scale[i] ?? 1) * (target / total / a);
    });
  }
  return scale;
}

/**
 * Chooses the type of each event from the hour of the week it falls in. The reception share aims at one
 * snapshot per facility per day given the run's density (events per day), within RECEPTION_SHARE_BOUNDS.
 */
export class TypeMix {
  readonly #types: SourceType[];
  /** Cumulative weights per hour of the week (Monday 00 UTC = 0), 168 rows of #types.length. */
  readonly #cumulative: Float64Array;

  constructor(profile: PartnerProfile, eventsPerDay: number) {
    const base = new Map<SourceType, number>(Object.entries(TYPE_WEIGHTS) as [SourceType, number][]);
    if (profile.agency) for (const t of STATE_ONLY) base.delete(t);
    const facilities = profile.agency ? 0 : profile.facilities.length;
    if (facilities > 0) {
      const { min, max } = RECEPTION_SHARE_BOUNDS;
      const share = Math.min(max, Math.max(min, facilities / Math.max(eventsPerDay, 1e-9)));
      const others = [...base.values()].reduce((a, b) => a + b, 0);
      base.set('reception.capacity', (share / (1 - share)) * others);
    }
    this.#types = [...base.keys()];
    const n = this.#types.length;
    const slotWeights = (scale: readonly number[], slot: number): number[] =>
      this.#types.map(
        (type, i) =>
          (base.get(type) ?? 0) *
          (scale[i] ?? 1) *
          clockFactor(CLOCKS[type], Math.floor(slot / 24), slot % 24),
      );
    const scale = balance(
      this.#types.map((type) => base.get(type) ?? 0),
      (s) => Array.from({ length: 168 }, (_, slot) => slotWeights(s, slot)),
    );
    this.#cumulative = new Float64Array(168 * n);
    for (let slot = 0; slot < 168; slot++) {
      let sum = 0;
      slotWeights(scale, slot).forEach((w, i) => {
        sum += w;
        this.#cumulative[slot * n + i] = sum;
      });
    }
  }

  /** The types this mix can produce. */
  get types(): readonly SourceType[] {
    return this.#types;
  }

  choose(rng: Random, at: number): SourceType {
    const weekday = (Math.floor(at / DAY_MS) + 3) % 7; // 1970-01-01 was a Thursday; Monday = 0
    const slot = weekday * 24 + Math.floor((at % DAY_MS) / HOUR_MS);
    const n = this.#types.length;
    const offset = slot * n;
    const r = rng.next() * (this.#cumulative[offset + n - 1] ?? 0);
    for (let i = 0; i < n - 1; i++) {
      if (r < (this.#cumulative[offset + i] ?? 0)) return this.#types[i] ?? 'crossing.irregular';
    }
    return this.#types[n - 1] ?? 'crossing.irregular';
  }
}
