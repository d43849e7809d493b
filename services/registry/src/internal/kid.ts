import { parseDate } from '@wbx/schema';

const KID_RE = /^([A-Z]{2,16})#(\d{4}-\d{2}-\d{2})-([1-9]\d{0,5})$/;

/** The parts of a kid `<memberId>#<yyyy-mm-dd>-<n>`. */
export interface KidParts {
  readonly memberId: string;
  readonly day: string;
  readonly n: number;
}

/** Splits a kid into its parts; undefined unless it has the form `<memberId>#<yyyy-mm-dd>-<n>`. */
export function parseKid(kid: string): KidParts | undefined {
  const m = KID_RE.exec(kid);
  if (!m) return undefined;
  const [, memberId = '', day = '', n = ''] = m;
  if (parseDate(day) === undefined) return undefined;
  return { memberId, day, n: Number(n) };
}

export function formatKid(parts: KidParts): string {
  return `${parts.memberId}#${parts.day}-${parts.n}`;
}
