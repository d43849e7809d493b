import type { ReadmissionRequest, ReadmissionResponse, ReturnDecision, ReturnExecuted } from '@wbx/proto';
import { ALPHA3_CODES, EVIDENCE_TYPES } from '@wbx/schema';

import {
  READMISSION_DEADLINE_DAYS,
  READMISSION_OUTCOME_WEIGHTS,
  READMISSION_REASON_WEIGHTS,
  RETURN_TYPE_WEIGHTS,
} from '../figures.js';
import { DAY_MS, isoTimestamp } from './calendar.js';
import type { PendingReturn, SynthContext } from './context.js';
import { knownOrNew } from './people.js';

/** Another partner from a list, never the origin itself. */
function counterpart(ctx: SynthContext, candidates: readonly string[]): string {
  const others = candidates.filter((c) => c !== ctx.partner);
  return others.length > 0 ? ctx.rng.pick(others) : ctx.partner === 'RS' ? 'MK' : 'RS';
}

/**
 * A return decision, often for an applicant rejected earlier in the run. The destination is the
 * country of citizenship, or the country the person came through (readmission to a neighbour). // assumption
 */
export function returnDecision(ctx: SynthContext, year: number): ReturnDecision {
  const { rng } = ctx;
  const rejected = rng.chance(0.7) ? ctx.rejected.take() : undefined;
  const returnee = rejected ?? knownOrNew(ctx, year, 0.4);
  const returnType = rng.weighted(RETURN_TYPE_WEIGHTS);
  const home = ALPHA3_CODES.has(returnee.citizenship) && rng.chance(0.6);
  const destination = home ? returnee.citizenship : rng.weighted(ctx.profile.entryCountries);
  // About half the decisions are carried out later in the run. // assumption
  if (rng.chance(0.5)) ctx.returns.push({ person: returnee, returnType, destination });
  return { person: returnee, returnType, destinationCountry: destination };
}

export function returnExecuted(ctx: SynthContext, year: number): ReturnExecuted {
  const { rng } = ctx;
  let pending: PendingReturn | undefined = rng.chance(0.85) ? ctx.returns.take() : undefined;
  if (pending === undefined) {
    const returnee = knownOrNew(ctx, year, 0.3);
    const home = ALPHA3_CODES.has(returnee.citizenship) && rng.chance(0.6);
    pending = {
      person: returnee,
      returnType: rng.weighted(RETURN_TYPE_WEIGHTS),
      destination: home ? returnee.citizenship : rng.weighted(ctx.profile.entryCountries),
    };
  }
  return { person: pending.person, returnType: pending.returnType, destinationCountry: pending.destination };
}

export function readmissionRequest(ctx: SynthContext, year: number, at: number): ReadmissionRequest {
  const { rng } = ctx;
  const requestedState = counterpart(ctx, ctx.profile.requestsTo);
  const evidenceCount = rng.weighted([
    [1, 50],
    [2, 35],
    [3, 15],
  ] as const);
  const days = rng.weighted(READMISSION_DEADLINE_DAYS);
  return {
    requestRef: ctx.nextRef('RA', year),
    requestingState: ctx.partner,
    requestedState,
    person: knownOrNew(ctx, year, 0.5),
    evidence: rng.sample(EVIDENCE_TYPES, evidenceCount),
    deadline: isoTimestamp(at + days * DAY_MS),
  };
}

/** The partner's answer to a request another state sent it (refs in the requesting state's numbering). */
export function readmissionResponse(ctx: SynthContext, year: number): ReadmissionResponse {
  const { rng } = ctx;
  const requestingState = counterpart(ctx, ctx.profile.requestsFrom);
  const outcome = rng.weighted(READMISSION_OUTCOME_WEIGHTS);
  const requestRef = `${requestingState}-RA-${year}-${String(rng.int(1, 999_999)).padStart(6, '0')}`;
  return {
    requestRef,
    requestingState,
    requestedState: ctx.partner,
    outcome,
    ...(outcome === 'rejected' ? { reason: rng.weighted(READMISSION_REASON_WEIGHTS) } : {}),
  };
}
