import { MONTHLY_SEASONALITY, routeDetections } from '../figures.js';
import type { Random } from '../random.js';
import { DAY_MS } from './calendar.js';

const SEASON_MEAN = MONTHLY_SEASONALITY.reduce((a, b) => a + b, 0) / MONTHLY_SEASONALITY.length;

/**
 * Relative volume of the route on the day starting at `day` (UTC midnight): the year's detections
 * (Frontex) spread over its days and shaped by the month's seasonality.
 */
export function dayIntensity(day: number): number {
  const d = new Date(day);
  const season = MONTHLY_SEASONALITY[d.getUTCMonth()] ?? SEASON_MEAN;
  return (routeDetections(d.getUTCFullYear()) / 365) * (season / SEASON_MEAN);
}

/**
 * `count` instants (integer milliseconds) in [from, to), ascending, distributed like the route's
 * day-by-day volume, drawn one at a time in O(1) memory per instant.
 *
 * The window is cut at UTC midnights into segments weighted by `dayIntensity × length`; this defines a
 * cumulative distribution F over [from, to). Sorted uniforms are drawn sequentially — the next of m
 * remaining order statistics above x is x + (1 − x)(1 − V^(1/m)) with V uniform — and mapped through
 * F⁻¹, which is monotone, so the instants come out sorted without ever holding them all.
 */
export function* sortedInstants(rng: Random, count: number, from: number, to: number): Generator<number> {
  const starts: number[] = [];
  const lengths: number[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (let start = from; start < to;) {
    const end = Math.min(Math.floor(start / DAY_MS) * DAY_MS + DAY_MS, to);
    total += dayIntensity(Math.floor(start / DAY_MS) * DAY_MS) * (end - start);
    starts.push(start);
    lengths.push(end - start);
    cumulative.push(total);
    start = end;
  }
  let x = 0;
  let segment = 0;
  let previous = from;
  for (let k = 0; k < count; k++) {
    x += (1 - x) * -Math.expm1(Math.log(rng.nextOpen()) / (count - k));
    const target = x * total;
    while (segment < cumulative.length - 1 && (cumulative[segment] ?? total) <= target) segment++;
    const segEnd = cumulative[segment] ?? total;
    const segStartWeight = segment === 0 ? 0 : (cumulative[segment - 1] ?? 0);
    const weight = segEnd - segStartWeight;
    const fraction = weight > 0 ? Math.min(1, Math.max(0, (target - segStartWeight) / weight)) : 0;
    const at = Math.floor((starts[segment] ?? from) + fraction * (lengths[segment] ?? 0));
    // Rounding can only nudge an instant to the window's edge or onto its predecessor, never before it.
    previous = Math.min(to - 1, Math.max(previous, at));
    yield previous;
  }
}
