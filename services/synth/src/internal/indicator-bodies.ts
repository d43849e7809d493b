import type { DocumentFraud, EntryRefusal, Person, StayIllegal } from '@wbx/proto';
import { ALPHA2_TO_ALPHA3, PERSONAL_DOCUMENT_TYPES } from '@wbx/schema';

import {
  BORDER_TYPE_WEIGHTS,
  DEMOGRAPHY,
  DOCUMENT_COUNTRY_WEIGHTS,
  DOCUMENT_TYPE_WEIGHTS,
  FALSE_DOCUMENT_EXIT_SHARE,
  FRAUD_TYPE_WEIGHTS,
  REFUSAL_GROUND_WEIGHTS,
  REFUSED_ROUTE_MIGRANT_SHARE,
  REFUSED_TRAVELLER_CITIZENSHIPS,
  STAY_BASIS_WEIGHTS,
  STAY_EXIT_SHARE,
} from '../figures.js';
import type { SynthContext } from './context.js';
import { adultAge, adultMigrant, knownOrNew, person } from './people.js';

/** A border section of one of the partner's segments (its crossing points and green border alike). */
function section(ctx: SynthContext): string {
  return ctx.rng.pick(ctx.rng.weighted(ctx.segments).sections).name;
}

/** A refused traveller: the route's mix or a traveller's citizenship other than the partner's own. */
function refusedPerson(ctx: SynthContext, year: number): Person {
  const { rng } = ctx;
  if (rng.chance(REFUSED_ROUTE_MIGRANT_SHARE)) return adultMigrant(ctx, year);
  const own = ALPHA2_TO_ALPHA3.get(ctx.partner);
  const choices = REFUSED_TRAVELLER_CITIZENSHIPS.filter(([c]) => c !== own);
  const sex = rng.chance(0.25) ? 'F' : 'M'; // assumption: travellers refused are mostly men
  return person(ctx, rng.weighted(choices), sex, adultAge(ctx));
}

export function entryRefusal(ctx: SynthContext, year: number): EntryRefusal {
  const { rng } = ctx;
  return {
    borderSection: section(ctx),
    borderType: rng.weighted(BORDER_TYPE_WEIGHTS),
    person: refusedPerson(ctx, year),
    ground: rng.weighted(REFUSAL_GROUND_WEIGHTS),
  };
}

/** Often a person detected crossing earlier in the run, found staying inland or leaving. */
export function stayIllegal(ctx: SynthContext, year: number): StayIllegal {
  const { rng } = ctx;
  const exit = rng.chance(STAY_EXIT_SHARE);
  return {
    person: knownOrNew(ctx, year, 0.3),
    detectedOn: exit ? 'exit' : 'inland',
    ...(exit ? { borderSection: section(ctx) } : {}),
    stayBasis: rng.weighted(STAY_BASIS_WEIGHTS),
  };
}

export function documentFraud(ctx: SynthContext, year: number): DocumentFraud {
  const { rng } = ctx;
  const documentType = rng.weighted(DOCUMENT_TYPE_WEIGHTS);
  // An impostor uses a genuine personal document (the schema's rule); anything else is counterfeit.
  let fraudType = rng.weighted(FRAUD_TYPE_WEIGHTS);
  if (fraudType === 'impostor' && !PERSONAL_DOCUMENT_TYPES.includes(documentType)) fraudType = 'counterfeit';
  const sex = rng.chance(DEMOGRAPHY.womenTarget * 2) ? 'F' : 'M'; // assumption
  return {
    borderSection: section(ctx),
    borderType: rng.weighted(BORDER_TYPE_WEIGHTS),
    direction: rng.chance(FALSE_DOCUMENT_EXIT_SHARE) ? 'exit' : 'entry',
    person: person(ctx, ctx.citizenship(year), sex, adultAge(ctx)),
    documentType,
    fraudType,
    documentCountry: rng.weighted(DOCUMENT_COUNTRY_WEIGHTS),
  };
}
