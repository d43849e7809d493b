/** Calendar arithmetic in UTC: dates, ISO weeks and the periods that assessments cover. */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Nothing in WBX happened before 2015-01-01 (the validator's lower bound). */
export const EARLIEST_MS = Date.UTC(2015, 0, 1);

/** RFC 3339 UTC with milliseconds, e.g. 2023-09-01T10:15:30.123Z. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** Calendar date YYYY-MM-DD. */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The UTC midnight starting the day of `ms`. */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The same day-of-month `months` later (clamped by Date.UTC's overflow rules), as YYYY-MM-DD. */
export function addMonthsDate(ms: number, months: number): string {
  const d = new Date(ms);
  return isoDate(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate()));
}

/** Monday 00:00 UTC of the ISO week containing `ms`. */
function isoWeekMonday(ms: number): number {
  const day = dayStart(ms);
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday = 0
  return day - weekday * DAY_MS;
}

/** The ISO week label YYYY-Www of the week starting on `monday`. */
function isoWeekLabel(monday: number): string {
  const thursday = new Date(monday + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week1Monday = isoWeekMonday(Date.UTC(year, 0, 4));
  const week = Math.floor((monday - week1Monday) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

export type PeriodKind = 'month' | 'week' | 'day';

/**
 * The period before the one containing `ms` (the last complete month, ISO week or day), or the day of
 * `ms` itself when that previous period would start before 2015-01-01.
 */
export function previousPeriod(kind: PeriodKind, ms: number): string {
  const d = new Date(ms);
  let start: number;
  let label: string;
  if (kind === 'month') {
    start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
    label = isoDate(start).slice(0, 7);
  } else if (kind === 'week') {
    start = isoWeekMonday(ms) - 7 * DAY_MS;
    label = isoWeekLabel(start);
  } else {
    start = dayStart(ms) - DAY_MS;
    label = isoDate(start);
  }
  return start >= EARLIEST_MS ? label : isoDate(ms);
}
