import { PEAK_DETECTIONS } from './figures.js';
import { DAY_MS } from './internal/calendar.js';
import { dayIntensity } from './internal/timeline.js';
import { partnerProfile } from './partner-profiles.js';

/**
 * How many source events a partner would record in [from, to): its volume at the 2022 peak scaled by
 * each day's share of the route's detections (Frontex yearly figures, monthly seasonality). A CLI can
 * use it to pick a realistic `count` for a window.
 */
export function expectedEventCount(partner: string, from: Date, to: Date): number {
  const perPeakDay = partnerProfile(partner).dailyEventsAtPeak / (PEAK_DETECTIONS / 365);
  let total = 0;
  for (let start = from.getTime(); start < to.getTime();) {
    const day = Math.floor(start / DAY_MS) * DAY_MS;
    const end = Math.min(day + DAY_MS, to.getTime());
    total += perPeakDay * dayIntensity(day) * ((end - start) / DAY_MS);
    start = end;
  }
  return Math.round(total);
}
