import type {
  AsylumApplication,
  AsylumDecision,
  Person,
  ResidenceHumanitarian,
  TraffickingVictim,
} from '@wbx/proto';
import { ALPHA2_TO_ALPHA3, STATELESS_CITIZENSHIP } from '@wbx/schema';

import {
  APPEAL_SHARE,
  DECISION_OUTCOME_WEIGHTS,
  DOMESTIC_VICTIM_SHARE,
  EXPLOITATION_WEIGHTS,
  FAMILY_SIZE_WEIGHTS,
  IDENTIFIED_BY_WEIGHTS,
  PERMIT_TYPE_WEIGHTS,
} from '../figures.js';
import { addMonthsDate } from './calendar.js';
import type { PendingApplication, SynthContext } from './context.js';
import { adultAge, adultMigrant, knownOrNew, person } from './people.js';

/** A presumed victim: often a national of the partner, mostly women in sexual exploitation. // assumption */
function victim(ctx: SynthContext, year: number, exploitation: string): Person {
  const { rng } = ctx;
  const national = ALPHA2_TO_ALPHA3.get(ctx.partner);
  const domestic = national !== undefined && !ctx.profile.agency && rng.chance(DOMESTIC_VICTIM_SHARE);
  const citizenship = domestic ? national : ctx.citizenship(year);
  const female = rng.chance(exploitation === 'sexual' || exploitation === 'forced-marriage' ? 0.92 : 0.45);
  const age = rng.weighted([
    ['0-13', 5],
    ['14-17', 20],
    ['adult', 75],
  ] as const);
  if (age === 'adult') return person(ctx, citizenship, female ? 'F' : 'M', adultAge(ctx));
  return person(ctx, citizenship, female ? 'F' : 'M', age, !domestic && rng.chance(0.5));
}

export function traffickingVictim(ctx: SynthContext, year: number): TraffickingVictim {
  const { rng } = ctx;
  const exploitationType = rng.weighted(EXPLOITATION_WEIGHTS);
  const p = victim(ctx, year, exploitationType);
  if (p.subjectRef !== undefined) ctx.victims.push(p);
  return {
    exploitationType,
    person: p,
    referredToAssistance: rng.chance(0.85), // assumption
    identifiedBy: rng.weighted(IDENTIFIED_BY_WEIGHTS),
  };
}

export function asylumApplication(ctx: SynthContext, year: number): AsylumApplication {
  const { rng } = ctx;
  // Half of the applicants were detected crossing before (same subjectRef). // assumption
  const applicant = knownOrNew(ctx, year, 0.5);
  const minor = applicant.ageBand === '0-13' || applicant.ageBand === '14-17';
  const applicationRef = ctx.nextRef('AS', year);
  ctx.applications.push({ ref: applicationRef, person: applicant });
  const firstEntry = rng.chance(0.75) ? rng.weighted(ctx.profile.entryCountries) : undefined;
  return {
    applicationRef,
    person: applicant,
    countryOfOrigin: applicant.citizenship,
    ...(firstEntry === undefined ? {} : { firstEntryCountry: firstEntry }),
    familySize: minor ? 1 : rng.weighted(FAMILY_SIZE_WEIGHTS),
  };
}

/**
 * A decision on an application lodged earlier in the run (same applicationRef and person) when one is
 * pending, else on an older one. First-instance rejections may be appealed and decided again later;
 * final rejections may lead to a return decision.
 */
export function asylumDecision(ctx: SynthContext, year: number): AsylumDecision {
  const { rng } = ctx;
  let instance = 'first';
  let pending: PendingApplication | undefined;
  if (rng.chance(APPEAL_SHARE)) {
    instance = 'appeal';
    pending = ctx.appeals.take();
  } else {
    pending = ctx.applications.take();
  }
  pending ??= { ref: ctx.nextRef('AS', year), person: adultMigrant(ctx, year) };
  const outcome = rng.weighted(DECISION_OUTCOME_WEIGHTS);
  if (outcome === 'rejected') {
    if (instance === 'first' && rng.chance(0.4)) ctx.appeals.push(pending);
    else if (pending.person.subjectRef !== undefined) ctx.rejected.push(pending.person);
  }
  return { applicationRef: pending.ref, instance, outcome, person: pending.person };
}

export function residenceHumanitarian(ctx: SynthContext, year: number, at: number): ResidenceHumanitarian {
  const { rng } = ctx;
  const weights = PERMIT_TYPE_WEIGHTS.filter(([type]) => year >= 2022 || type !== 'temporary-protection');
  const permitType = rng.weighted(weights);
  let holder: Person;
  let months = rng.chance(0.5) ? 6 : 12;
  if (permitType === 'victim-of-trafficking') {
    holder = ctx.victims.take() ?? victim(ctx, year, 'other');
  } else if (permitType === 'temporary-protection') {
    // People fleeing Ukraine: mostly women and children. // assumption
    const age = rng.weighted([
      ['0-13', 25],
      ['14-17', 8],
      ['18-34', 27],
      ['35-64', 32],
      ['65+', 8],
    ] as const);
    const female = rng.chance(age === '0-13' || age === '14-17' ? 0.5 : 0.75);
    holder = person(ctx, 'UKR', female ? 'F' : 'M', age);
    months = 12;
  } else if (permitType === 'stateless') {
    holder = person(ctx, STATELESS_CITIZENSHIP, rng.chance(0.5) ? 'M' : 'F', adultAge(ctx));
  } else {
    holder = adultMigrant(ctx, year);
  }
  return { permitType, validUntil: addMonthsDate(at, months), person: holder };
}
