import type { CrossingIrregular, GeoPoint, SmugglingIncident } from '@wbx/proto';

import { DETECTION_WEIGHTS, FACILITATOR_SUSPECTED, FACILITATORS_WEIGHTS, MODUS_WEIGHTS } from '../figures.js';
import type { BorderSection } from '../partner-profiles.js';
import type { Weighted } from '../random.js';
import type { SynthContext } from './context.js';
import { crossingGroup, groupSize } from './people.js';

/** Near the border section, rounded to 0.01° (~1 km): the precision an origin would share. // assumption */
function near(ctx: SynthContext, section: BorderSection, p: number): GeoPoint | undefined {
  if (section.at === undefined || !ctx.rng.chance(p)) return undefined;
  const round = (v: number): number => Math.round(v * 100) / 100;
  const [lat, lon] = section.at;
  return { lat: round(lat + ctx.rng.normal(0, 0.03)), lon: round(lon + ctx.rng.normal(0, 0.04)) };
}

/** Entry when the segment ends at the partner, exit when it starts there, either for other segments. */
function directionOf(ctx: SynthContext, segment: string): 'entry' | 'exit' {
  if (segment.endsWith(`-${ctx.partner}`)) return 'entry';
  if (segment.startsWith(`${ctx.partner}-`)) return 'exit';
  return ctx.rng.chance(0.5) ? 'entry' : 'exit';
}

export function crossingIrregular(ctx: SynthContext, year: number): CrossingIrregular {
  const { rng } = ctx;
  const seg = rng.weighted(ctx.segments);
  const section = rng.pick(seg.sections);
  const direction = directionOf(ctx, seg.segment);
  const location = near(ctx, section, 0.8);
  const persons = crossingGroup(ctx, year);
  for (const p of persons.slice(0, 2)) {
    if (p.subjectRef !== undefined && rng.chance(0.3)) ctx.detected.push(p);
  }
  const suspected = rng.chance(
    persons.length > 1 ? FACILITATOR_SUSPECTED.group : FACILITATOR_SUSPECTED.single,
  );
  const detectionMethod = rng.weighted(DETECTION_WEIGHTS[direction]);
  return {
    borderSection: section.name,
    routeSegment: seg.segment,
    direction,
    ...(location === undefined ? {} : { location }),
    persons,
    facilitatorSuspected: suspected,
    detectionMethod,
    // FRAN 1B: at a crossing point, found at the checkpoint (hidden in a vehicle); else 1A. // assumption
    crossingPoint: detectionMethod === 'checkpoint' ? 'at-bcp' : 'between-bcp',
  };
}

/** The vehicle that goes with a modus operandi, if any. // assumption */
const VEHICLES: Readonly<Record<string, Weighted<string | undefined>>> = {
  'on-foot-guided': [
    [undefined, 90],
    ['car', 10],
  ],
  'vehicle-concealment': [
    ['truck', 50],
    ['van', 30],
    ['car', 15],
    ['bus', 5],
  ],
  'vehicle-open': [
    ['car', 45],
    ['van', 40],
    ['bus', 10],
    ['other', 5],
  ],
  train: [['train', 1]],
  boat: [['boat', 1]],
  'document-fraud': [
    [undefined, 50],
    ['bus', 30],
    ['car', 20],
  ],
  other: [
    [undefined, 50],
    ['other', 50],
  ],
};

export function smugglingIncident(ctx: SynthContext, year: number): SmugglingIncident {
  const { rng } = ctx;
  const seg = rng.weighted(ctx.segments);
  const location = near(ctx, rng.pick(seg.sections), 0.6);
  const migrantsCount = groupSize(ctx);
  const [min, max] = rng.weighted(FACILITATORS_WEIGHTS);
  const modusOperandi = rng.weighted(MODUS_WEIGHTS);
  const vehicleType = rng.weighted(VEHICLES[modusOperandi] ?? [[undefined, 1]]);
  return {
    routeSegment: seg.segment,
    ...(location === undefined ? {} : { location }),
    migrantsCount,
    facilitatorsApprehended: rng.int(min, max),
    modusOperandi,
    ...(vehicleType === undefined ? {} : { vehicleType }),
    caseRef: ctx.nextRef('SM', year),
  };
}
