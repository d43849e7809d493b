import { CliError } from './errors.js';

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Parses a CLI date: YYYY-MM-DD (UTC midnight) or a full ISO 8601 timestamp. */
export function parseCliDate(flag: string, value: string): Date {
  const d = new Date(DAY_RE.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime()) || (DAY_RE.test(value) && d.toISOString().slice(0, 10) !== value)) {
    throw new CliError('USAGE', `${flag}: "${value}" is not a date (YYYY-MM-DD or ISO 8601 timestamp)`);
  }
  return d;
}
