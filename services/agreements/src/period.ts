import type { Period } from './body.js';
import { AgreementError } from './errors.js';

const DAY_MS = 86_400_000;
const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** A period of an aggregate: its name as StatsAggregate expects it and its UTC bounds [start, end). */
export interface PeriodBounds {
  /** `YYYY-MM-DD` (day), `YYYY-Www` (ISO week) or `YYYY-MM` (month). */
  readonly period: string;
  readonly start: Date;
  readonly end: Date;
}

/** The ISO 8601 week (Monday to Sunday, UTC) that contains `t`: its week-year, number and Monday. */
function isoWeek(t: number): { year: number; week: number; monday: number } {
  const day = Math.floor(t / DAY_MS) * DAY_MS;
  const monday = day - ((new Date(day).getUTCDay() + 6) % 7) * DAY_MS;
  const year = new Date(monday + 3 * DAY_MS).getUTCFullYear();
  const jan4 = Date.UTC(year, 0, 4);
  const week1 = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY_MS;
  return { year, week: 1 + Math.round((monday - week1) / (7 * DAY_MS)), monday };
}

/** The period of kind `kind` that contains `date` (UTC). Throws INVALID_ARGUMENT for an invalid date. */
export function periodBounds(date: Date, kind: Period): PeriodBounds {
  const t = date.getTime();
  if (Number.isNaN(t)) throw new AgreementError('INVALID_ARGUMENT', 'date: invalid date');
  const d = new Date(t);
  const [y, m] = [d.getUTCFullYear(), d.getUTCMonth()];
  switch (kind) {
    case 'day': {
      const start = Date.UTC(y, m, d.getUTCDate());
      return { period: d.toISOString().slice(0, 10), start: new Date(start), end: new Date(start + DAY_MS) };
    }
    case 'week': {
      const { year, week, monday } = isoWeek(t);
      return {
        period: `${pad(year, 4)}-W${pad(week)}`,
        start: new Date(monday),
        end: new Date(monday + 7 * DAY_MS),
      };
    }
    case 'month':
      return {
        period: `${pad(y, 4)}-${pad(m + 1)}`,
        start: new Date(Date.UTC(y, m, 1)),
        end: new Date(Date.UTC(y, m + 1, 1)),
      };
    default:
      throw new AgreementError('INVALID_ARGUMENT', `period must be day, week or month: ${String(kind)}`);
  }
}

/** The name of the period that contains `date`: `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`. */
export function periodOf(date: Date, kind: Period): string {
  return periodBounds(date, kind).period;
}
