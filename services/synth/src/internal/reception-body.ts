import type { ReceptionCapacity } from '@wbx/proto';

import {
  CHILDREN_SHARE_BY_FACILITY,
  MONTHLY_SEASONALITY,
  PEAK_DETECTIONS,
  routeDetections,
  UNACCOMPANIED_SHARE_OF_CHILDREN,
} from '../figures.js';
import { Random } from '../random.js';
import { DAY_MS } from './calendar.js';
import type { SynthContext } from './context.js';

const PEAK_SEASON = Math.max(...MONTHLY_SEASONALITY);

/**
 * How full the centres are on a day: full at the 2022 autumn peak (UNHCR Serbia, Aug 2022: 6,254 people
 * in centres with ~5,625 beds), proportionally emptier as detections fall. // assumption beyond that
 */
function loadFactor(at: number): number {
  const d = new Date(at);
  const season = (MONTHLY_SEASONALITY[d.getUTCMonth()] ?? PEAK_SEASON) / PEAK_SEASON;
  return Math.min(
    1,
    Math.max(0.05, 0.15 + 0.85 * (routeDetections(d.getUTCFullYear()) / PEAK_DETECTIONS) * season),
  );
}

/** Which facility reports next on a day: each day starts at a different one and goes round. */
export class ReceptionRoster {
  #day = Number.NaN;
  #next = 0;

  facilityIndex(ctx: SynthContext, at: number): number {
    const day = Math.floor(at / DAY_MS);
    const n = ctx.profile.facilities.length;
    if (day !== this.#day) {
      this.#day = day;
      this.#next = new Random(`${ctx.seed}:${ctx.partner}:roster:${day}`).int(0, n - 1);
    }
    const index = this.#next % n;
    this.#next++;
    return index;
  }
}

/**
 * A daily snapshot of one facility. The day's figures come from a generator seeded by (seed, facility,
 * day), so two snapshots of a facility on one day agree; children and unaccompanied minors follow the
 * facility type (UNHCR Serbia 2017: 41 % children in centres).
 */
export function receptionCapacity(ctx: SynthContext, roster: ReceptionRoster, at: number): ReceptionCapacity {
  const facility = ctx.profile.facilities[roster.facilityIndex(ctx, at)];
  if (facility === undefined) throw new RangeError(`${ctx.partner} has no reception facilities`);
  const day = new Random(`${ctx.seed}:${facility.id}:${Math.floor(at / DAY_MS)}`);
  const ratio = Math.min(1, loadFactor(at) * day.float(0.7, 1.15));
  const occupancy = Math.min(facility.capacity, Math.round(facility.capacity * ratio));
  const childShare = (CHILDREN_SHARE_BY_FACILITY[facility.type] ?? 0.1) * day.float(0.7, 1.2);
  const children = Math.min(occupancy, Math.round(occupancy * childShare));
  const uam =
    facility.type === 'detention'
      ? 0
      : Math.round(children * UNACCOMPANIED_SHARE_OF_CHILDREN * day.float(0.5, 1.5));
  return {
    facilityId: facility.id,
    facilityType: facility.type,
    capacity: facility.capacity,
    occupancy,
    children,
    unaccompaniedMinors: Math.min(children, uam),
  };
}
