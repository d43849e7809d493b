import type { Person } from '@wbx/proto';

import { ADULT_AGE_WEIGHTS, DEMOGRAPHY, GROUP_SIZE_WEIGHTS } from '../figures.js';
import type { SynthContext } from './context.js';

/** A person in proto field order; a subjectRef (standing for an HMAC of an internal id) most of the time. */
export function person(
  ctx: SynthContext,
  citizenship: string,
  sex: string,
  ageBand: string,
  unaccompaniedMinor = false,
): Person {
  const { rng } = ctx;
  const recorded = rng.chance(DEMOGRAPHY.sexUnknown) ? 'U' : rng.chance(DEMOGRAPHY.sexX) ? 'X' : sex;
  const base = { citizenship, sex: recorded, ageBand, unaccompaniedMinor };
  return rng.chance(DEMOGRAPHY.withSubjectRef) ? { subjectRef: rng.hex(64), ...base } : base;
}

export function adultAge(ctx: SynthContext): string {
  return ctx.rng.weighted(ADULT_AGE_WEIGHTS);
}

/** One member of a group that is not a family: mostly adult men, some women and lone minors. */
function groupMember(ctx: SynthContext, citizenship: string): Person {
  const { rng } = ctx;
  const r = rng.next();
  if (r < DEMOGRAPHY.minorInGroup) {
    const age = rng.chance(DEMOGRAPHY.teenShareOfLoneMinors) ? '14-17' : '0-13';
    const sex = rng.chance(0.88) ? 'M' : 'F'; // assumption: lone minors on the route are mostly boys
    return person(ctx, citizenship, sex, age, rng.chance(DEMOGRAPHY.unaccompaniedIfNoFamily));
  }
  const sex = r < DEMOGRAPHY.minorInGroup + DEMOGRAPHY.womanInGroup ? 'F' : 'M';
  return person(ctx, citizenship, sex, adultAge(ctx));
}

/** A family: one or two parents, one to four children, sometimes a grandparent; one citizenship. */
function family(ctx: SynthContext, citizenship: string): Person[] {
  const { rng } = ctx;
  const members: Person[] = [];
  const parentAge = (): string => (rng.chance(0.6) ? '18-34' : '35-64');
  const father = rng.chance(0.9);
  if (father) members.push(person(ctx, citizenship, 'M', parentAge()));
  if (!father || rng.chance(0.85)) members.push(person(ctx, citizenship, 'F', parentAge()));
  const children = rng.weighted([
    [1, 30],
    [2, 35],
    [3, 22],
    [4, 13],
  ] as const);
  for (let i = 0; i < children; i++) {
    members.push(person(ctx, citizenship, rng.chance(0.5) ? 'M' : 'F', rng.chance(0.8) ? '0-13' : '14-17'));
  }
  if (rng.chance(0.05)) members.push(person(ctx, citizenship, rng.chance(0.5) ? 'M' : 'F', '65+'));
  return members;
}

/** A group size for a non-family group (also the migrants in a smuggling incident). */
export function groupSize(ctx: SynthContext): number {
  const [min, max] = ctx.rng.weighted(GROUP_SIZE_WEIGHTS);
  return ctx.rng.int(min, max);
}

/**
 * The persons detected in one crossing: a family (with some companions) or a group of mostly adult men
 * who largely share a citizenship, as smuggled groups usually do.
 */
export function crossingGroup(ctx: SynthContext, year: number): Person[] {
  const { rng } = ctx;
  const main = ctx.citizenship(year);
  const member = (): Person =>
    groupMember(ctx, rng.chance(DEMOGRAPHY.sharedCitizenship) ? main : ctx.citizenship(year));
  if (rng.chance(DEMOGRAPHY.familyGroupShare)) {
    const members = family(ctx, main);
    const companions = rng.chance(0.5) ? rng.int(1, 8) : 0;
    for (let i = 0; i < companions; i++) members.push(member());
    return members;
  }
  const size = groupSize(ctx);
  const members: Person[] = [];
  for (let i = 0; i < size; i++) members.push(member());
  return members;
}

/** A single adult migrant (applicant, returnee, readmission case) of the year's citizenship mix. */
export function adultMigrant(ctx: SynthContext, year: number): Person {
  const sex = ctx.rng.chance(DEMOGRAPHY.womenTarget) ? 'F' : 'M';
  return person(ctx, ctx.citizenship(year), sex, adultAge(ctx));
}

/** A person seen before (detected crossing) with probability `p`, else a new adult migrant. */
export function knownOrNew(ctx: SynthContext, year: number, p: number): Person {
  if (ctx.rng.chance(p)) {
    const known = ctx.detected.take();
    if (known !== undefined) return known;
  }
  return adultMigrant(ctx, year);
}
