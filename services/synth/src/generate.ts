import type { Event } from '@wbx/proto';
import { isPartnerCode, SCHEMA_VERSION, uuidV7 } from '@wbx/schema';

import { assessmentRoute } from './internal/assessment-body.js';
import { crossingIrregular, smugglingIncident } from './internal/border-bodies.js';
import { DAY_MS, EARLIEST_MS, isoTimestamp } from './internal/calendar.js';
import { SynthContext } from './internal/context.js';
import { recordingDelay } from './internal/delays.js';
import { documentFraud, entryRefusal, stayIllegal } from './internal/indicator-bodies.js';
import {
  asylumApplication,
  asylumDecision,
  residenceHumanitarian,
  traffickingVictim,
} from './internal/protection-bodies.js';
import { ReceptionRoster, receptionCapacity } from './internal/reception-body.js';
import {
  readmissionRequest,
  readmissionResponse,
  returnDecision,
  returnExecuted,
} from './internal/return-bodies.js';
import { sortedInstants } from './internal/timeline.js';
import { type SourceType, TypeMix } from './internal/type-mix.js';
import { uuidRandom } from './internal/uuid-random.js';
import { partnerProfile } from './partner-profiles.js';
import { SynthError } from './synth-error.js';

export interface GenerateOptions {
  /** The origin: a WBX partner code. AL, BA, XK, ME, MK and RS have their own profiles. */
  readonly partner: string;
  /** Exactly how many events to make (0 … 100,000,000). */
  readonly count: number;
  /** Any string; the same options always give the same events, byte for byte. */
  readonly seed: string;
  /** Start of the window (inclusive), not before 2015-01-01. */
  readonly from: Date;
  /**
   * End of the window (exclusive). It must not be in the future: occurredAt lies in [from, to) and
   * recordedAt in [occurredAt, to], so with `to` ≤ now every event passes the validator's clock rules.
   */
  readonly to: Date;
}

const MAX_COUNT = 100_000_000;

type BodyBuilder = (ctx: SynthContext, year: number, at: number, roster: ReceptionRoster) => Partial<Event>;

/** Each source type's body, under its catalogue key. */
const BODIES: Readonly<Record<SourceType, BodyBuilder>> = {
  'crossing.irregular': (ctx, year) => ({ crossingIrregular: crossingIrregular(ctx, year) }),
  'smuggling.incident': (ctx, year) => ({ smugglingIncident: smugglingIncident(ctx, year) }),
  'trafficking.victim': (ctx, year) => ({ traffickingVictim: traffickingVictim(ctx, year) }),
  'asylum.application': (ctx, year) => ({ asylumApplication: asylumApplication(ctx, year) }),
  'asylum.decision': (ctx, year) => ({ asylumDecision: asylumDecision(ctx, year) }),
  'residence.humanitarian': (ctx, year, at) => ({
    residenceHumanitarian: residenceHumanitarian(ctx, year, at),
  }),
  'return.decision': (ctx, year) => ({ returnDecision: returnDecision(ctx, year) }),
  'return.executed': (ctx, year) => ({ returnExecuted: returnExecuted(ctx, year) }),
  'readmission.request': (ctx, year, at) => ({ readmissionRequest: readmissionRequest(ctx, year, at) }),
  'readmission.response': (ctx, year) => ({ readmissionResponse: readmissionResponse(ctx, year) }),
  'reception.capacity': (ctx, _year, at, roster) => ({
    receptionCapacity: receptionCapacity(ctx, roster, at),
  }),
  'assessment.route': (ctx, year, at) => ({ assessmentRoute: assessmentRoute(ctx, year, at) }),
  'entry.refusal': (ctx, year) => ({ entryRefusal: entryRefusal(ctx, year) }),
  'stay.illegal': (ctx, year) => ({ stayIllegal: stayIllegal(ctx, year) }),
  'document.fraud': (ctx, year) => ({ documentFraud: documentFraud(ctx, year) }),
};

function checkOptions(options: GenerateOptions): { from: number; to: number } {
  const { partner, count, seed } = options;
  if (!isPartnerCode(partner)) throw new SynthError('INVALID_OPTIONS', `unknown partner ${partner}`);
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) {
    throw new SynthError('INVALID_OPTIONS', `count must be an integer in 0..${MAX_COUNT}`);
  }
  if (typeof seed !== 'string') throw new SynthError('INVALID_OPTIONS', 'seed must be a string');
  const from = options.from.getTime();
  const to = options.to.getTime();
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new SynthError('INVALID_OPTIONS', 'invalid date');
  if (from < EARLIEST_MS) throw new SynthError('INVALID_OPTIONS', 'from must not be before 2015-01-01');
  if (to <= from) throw new SynthError('INVALID_OPTIONS', 'to must be after from');
  return { from, to };
}

/**
 * Generates `count` synthetic events of one partner, sorted by occurredAt, in proto3 canonical JSON
 * form (lowerCamelCase keys in proto field order, every non-optional field present, timestamps
 * RFC 3339 UTC with milliseconds). Deterministic: identical options give identical events. Streams in
 * constant memory: each event is made when the iterator is advanced.
 *
 * @throws SynthError `INVALID_OPTIONS` for an unknown partner, a bad count or an empty or pre-2015 window.
 */
export function generateEvents(options: GenerateOptions): Generator<Event, void, undefined> {
  const window = checkOptions(options);
  return run(options, window.from, window.to);
}

function* run(options: GenerateOptions, from: number, to: number): Generator<Event, void, undefined> {
  const profile = partnerProfile(options.partner);
  const ctx = new SynthContext(options.seed, profile);
  const mix = new TypeMix(profile, (options.count / (to - from)) * DAY_MS);
  const roster = new ReceptionRoster();
  for (const at of sortedInstants(ctx.rng, options.count, from, to)) {
    const type = mix.choose(ctx.rng, at);
    const year = new Date(at).getUTCFullYear();
    const body = BODIES[type](ctx, year, at, roster);
    const recorded = Math.min(to, at + recordingDelay(ctx.rng, type));
    yield {
      eventId: uuidV7(recorded, uuidRandom(ctx.rng)),
      origin: profile.partner,
      type,
      schemaVersion: SCHEMA_VERSION,
      occurredAt: isoTimestamp(at),
      recordedAt: isoTimestamp(recorded),
      ...body,
    };
  }
}
