import type { Person } from '@wbx/proto';

import { CITIZENSHIP_WEIGHTS, NEWLY_FREQUENT_2022, newcomerFactor } from '../figures.js';
import type { PartnerProfile, SegmentProfile } from '../partner-profiles.js';
import { Random, type Weighted } from '../random.js';
import { Pool } from './pool.js';

/** How many recent items each pool keeps for follow-up events. */
const POOL_CAPACITY = 256;

export interface PendingApplication {
  readonly ref: string;
  readonly person: Person;
}

export interface PendingReturn {
  readonly person: Person;
  readonly returnType: string;
  readonly destination: string;
}

/** State shared by the body builders of one generation run: the generator and bounded memory. */
export class SynthContext {
  readonly rng: Random;
  readonly segments: Weighted<SegmentProfile>;
  /** Persons detected crossing, who may later apply for asylum, be returned or readmitted. */
  readonly detected = new Pool<Person>(POOL_CAPACITY);
  /** Applications awaiting a first-instance decision, and first-instance rejections under appeal. */
  readonly applications = new Pool<PendingApplication>(POOL_CAPACITY);
  readonly appeals = new Pool<PendingApplication>(POOL_CAPACITY);
  /** Rejected applicants who may receive a return decision; return decisions awaiting execution. */
  readonly rejected = new Pool<Person>(POOL_CAPACITY);
  readonly returns = new Pool<PendingReturn>(POOL_CAPACITY);
  /** Trafficking victims who may receive a residence permit. */
  readonly victims = new Pool<Person>(POOL_CAPACITY);

  readonly #sequences = new Map<string, number>();
  readonly #citizenships = new Map<number, Weighted<string>>();

  constructor(
    readonly seed: string,
    readonly profile: PartnerProfile,
  ) {
    this.rng = new Random(`wbx-synth:${profile.partner}:${seed}`);
    this.segments = profile.segments.map((seg) => [seg, seg.weight] as const);
  }

  get partner(): string {
    return this.profile.partner;
  }

  /**
   * The next reference of a kind in a year, e.g. RS-AS-2023-041877. Each kind's numbering starts at a
   * seed-dependent offset, so runs with different seeds rarely collide.
   */
  nextRef(kind: string, year: number): string {
    const key = `${kind}:${year}`;
    const n = (this.#sequences.get(key) ?? this.rng.int(1, 400_000)) + 1;
    this.#sequences.set(key, n);
    return `${this.partner}-${kind}-${year}-${String(n).padStart(6, '0')}`;
  }

  /** The citizenship mix of a year (the 2022 newcomers weighted by year). */
  citizenshipWeights(year: number): Weighted<string> {
    let weights = this.#citizenships.get(year);
    if (weights === undefined) {
      const factor = newcomerFactor(year);
      weights = CITIZENSHIP_WEIGHTS.map(([code, w]) => [
        code,
        NEWLY_FREQUENT_2022.includes(code) ? w * factor : w,
      ]);
      this.#citizenships.set(year, weights);
    }
    return weights;
  }

  citizenship(year: number): string {
    return this.rng.weighted(this.citizenshipWeights(year));
  }
}
