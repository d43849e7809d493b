import * as z from 'zod';

import { ALPHA2_CODES, isCitizenship, ALPHA3_CODES } from '../countries.js';
import { isPartnerCode } from '../partners.js';
import type { ViolationCode } from '../violation.js';

/** A custom zod issue carrying one of our codes. */
export function issue(
  code: ViolationCode,
  message: string,
): { message: string; params: { code: ViolationCode } } {
  return { message, params: { code } };
}

const UINT32_MAX = 4_294_967_295;

/** A string with a cap; required (non-empty) unless `optional` is used by the caller. */
export function text(max: number): z.ZodString {
  return z.string().min(1).max(max);
}

/** A closed vocabulary. */
export function code<const T extends readonly [string, ...string[]]>(
  values: T,
): z.ZodEnum<{ [K in T[number]]: K }> {
  return z.enum(values);
}

/** A proto3 uint32 with a domain cap; absent means 0 (proto3 default). */
export function count(max = UINT32_MAX): z.ZodDefault<z.ZodNumber> {
  return z.number().int().min(0).max(max).default(0);
}

/** A proto3 bool; absent means false. */
export const flag = z.boolean().default(false);

const REF_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/;
/** An origin-side reference (case, application, request, facility): not a personal identifier. */
export const ref = z
  .string()
  .min(1)
  .max(64)
  .regex(REF_RE, issue('INVALID_FORMAT', 'letters, digits and . _ / - only'));

const SUBJECT_REF_RE = /^[0-9a-f]{64}$/;
/** Pseudonymous person reference: a keyed hash, 64 lowercase hex characters. */
export const subjectRef = z
  .string()
  .regex(
    SUBJECT_REF_RE,
    issue('INVALID_FORMAT', 'subjectRef must be 64 lowercase hex characters (a keyed hash)'),
  );

const UUID_V7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const uuidV7 = z
  .string()
  .regex(UUID_V7_RE, issue('INVALID_FORMAT', 'eventId must be a lowercase UUIDv7'));

export const citizenship = z
  .string()
  .refine(
    isCitizenship,
    issue('UNKNOWN_COUNTRY', 'not an ISO 3166-1 alpha-3 code, XXA (stateless) or XXX (unknown)'),
  );

export const country = z
  .string()
  .refine((c) => ALPHA3_CODES.has(c), issue('UNKNOWN_COUNTRY', 'not an ISO 3166-1 alpha-3 code'));

export const partner = z.string().refine(isPartnerCode, issue('UNKNOWN_PARTNER', 'not a WBX partner code'));

/** Two different ISO 3166-1 alpha-2 codes, e.g. GR-MK. */
export function isRouteSegment(s: string): boolean {
  if (s.length !== 5 || s[2] !== '-') return false;
  const a = s.slice(0, 2);
  const b = s.slice(3);
  return a !== b && ALPHA2_CODES.has(a) && ALPHA2_CODES.has(b);
}
export const routeSegment = z
  .string()
  .refine(
    isRouteSegment,
    issue('INVALID_ROUTE_SEGMENT', 'must be two different ISO 3166-1 alpha-2 codes, e.g. GR-MK'),
  );

const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH_RE = /^(\d{4})-(\d{2})$/;
const WEEK_RE = /^(\d{4})-W(\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 1 : 0;
  return d <= (DAYS_IN_MONTH[m - 1] ?? 0) + leap;
}

/** Two ASCII digits at `i` as a number (NaN when not digits). */
function num2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/** Parses an RFC 3339 UTC timestamp (proto3 JSON form of google.protobuf.Timestamp); undefined if malformed. */
export function parseTimestamp(s: string): number | undefined {
  // Hot path of every validation: checked by hand instead of regex + Date parsing.
  if (!TIMESTAMP_RE.test(s)) return undefined;
  const y = num2(s, 0) * 100 + num2(s, 2);
  const mo = num2(s, 5);
  const d = num2(s, 8);
  const h = num2(s, 11);
  const mi = num2(s, 14);
  const se = num2(s, 17);
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || se > 59) return undefined;
  // Milliseconds, truncated like Date.parse.
  const ms = s.charCodeAt(19) === 46 ? Number(s.slice(20, Math.min(23, s.length - 1)).padEnd(3, '0')) : 0;
  return Date.UTC(y, mo - 1, d, h, mi, se) + ms;
}

/** Parses a calendar date YYYY-MM-DD to its UTC midnight; undefined if malformed. */
export function parseDate(s: string): number | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const [y, mo, d] = m.slice(1, 4).map(Number) as [number, number, number];
  return validDate(y, mo, d) ? Date.UTC(y, mo - 1, d) : undefined;
}

/** Parses a period (YYYY-MM, YYYY-Www ISO week, YYYY-MM-DD) to the UTC start of the period. */
export function parsePeriodStart(s: string): number | undefined {
  const day = parseDate(s);
  if (day !== undefined) return day;
  let m = MONTH_RE.exec(s);
  if (m) {
    const [y, mo] = [Number(m[1]), Number(m[2])];
    return mo >= 1 && mo <= 12 ? Date.UTC(y, mo - 1, 1) : undefined;
  }
  m = WEEK_RE.exec(s);
  if (m) {
    const [y, w] = [Number(m[1]), Number(m[2])];
    // ISO week 1 is the week with 4 January; weeks start on Monday.
    const jan4 = Date.UTC(y, 0, 4);
    const week1Monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * 86_400_000;
    const dec28 = Date.UTC(y, 11, 28);
    const weeksInYear = Math.floor((dec28 - week1Monday) / (7 * 86_400_000)) + 1;
    return w >= 1 && w <= weeksInYear ? week1Monday + (w - 1) * 7 * 86_400_000 : undefined;
  }
  return undefined;
}

export const timestamp = z
  .string()
  .refine(
    (s) => parseTimestamp(s) !== undefined,
    issue('INVALID_FORMAT', 'must be an RFC 3339 UTC timestamp'),
  );
export const date = z
  .string()
  .refine((s) => parseDate(s) !== undefined, issue('INVALID_FORMAT', 'must be a calendar date YYYY-MM-DD'));
export const period = z
  .string()
  .refine(
    (s) => parsePeriodStart(s) !== undefined,
    issue('INVALID_FORMAT', 'must be a period YYYY-MM, YYYY-Www or YYYY-MM-DD'),
  );

export const geoPoint = z.strictObject({
  lat: z.number().min(-90).max(90).default(0),
  lon: z.number().min(-180).max(180).default(0),
});
