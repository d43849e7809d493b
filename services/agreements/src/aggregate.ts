import { isEventType, parseTimestamp, type EventType } from '@wbx/schema';

import type { AggregateTerm } from './body.js';
import { AgreementError } from './errors.js';
import { matchesWhere } from './internal/where.js';
import { personAttribute, personField } from './paths.js';
import { periodBounds } from './period.js';
import type { PolicyEvent } from './policy.js';
import {
  protectTable,
  type LinkedTable,
  type ProtectedCell,
  type ProtectedTable,
} from './secondary-suppression.js';

/** The value a cell shows for a dimension the event does not carry (an optional field left out). */
export const MISSING_VALUE = 'unknown';

/**
 * How the cells of one table are protected before they are published: primary suppression below
 * `minCell`, secondary suppression (`protectCells`: against its margins and the linked tables), and the
 * term's rounding. `minCell: 0` gives the true counts: nothing suppressed, nothing rounded.
 */
export interface CellControl {
  readonly minCell: number;
  /** Round published counts to a multiple of this (an aggregate term's `rounding`). */
  readonly rounding?: number | undefined;
  /** An aggregate term's `noise`: with `cellKeys`, each published count gets its cell key's noise. */
  readonly noise?: 'cell-key' | undefined;
  /** Per cell (by the JSON of its values): the sum of its records' keys, modulo 2³² (`cellKeyNoise`). */
  readonly cellKeys?: Readonly<Record<string, number>>;
  /** The table's dimensions: needed to relate it to `linked` tables. */
  readonly dimensions?: readonly string[];
  /** Tables of the same events already published, whose margins a recipient may hold. */
  readonly linked?: readonly LinkedTable[];
}

/** One cell: a combination of dimension values and how many it counts (0 when suppressed). */
export interface AggregateCell {
  readonly values: readonly string[];
  readonly count: number;
  readonly suppressed: boolean;
  /**
   * Set on a suppressed cell hidden by secondary suppression (a complement, which may hold minCell or
   * more); absent on a primary suppression (below minCell) and on a published cell.
   */
  readonly secondary?: true;
}

/** The body of a `stats.aggregate` event (StatsAggregateSchema). */
export interface StatsAggregateBody {
  readonly period: string;
  readonly sourceType: EventType;
  readonly dimensions: readonly string[];
  readonly cells: readonly AggregateCell[];
  readonly minCell: number;
}

type Claims = Readonly<Record<string, unknown>>;

const text = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'boolean' || typeof v === 'number' ? String(v) : MISSING_VALUE;

/** The persons an event carries (`persons[]` or `person`), as attribute objects. */
function personsOf(type: EventType, claims: Claims): Claims[] {
  const field = personField(type);
  const value = field === undefined ? undefined : claims[field];
  const list: unknown[] = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((p): p is Claims => typeof p === 'object' && p !== null);
}

/**
 * Counts the events of `sourceType` that `term` covers (its where-conditions) and that occurred in the
 * term's period containing `periodStart`, per combination of the dimension values. Person dimensions
 * (`persons.citizenship`, `person.sex`) count persons, not events; otherwise events are counted. Cells
 * below the term's minCell are suppressed (count 0, suppressed true), and so are the complementary cells
 * that keep them from being recovered from the table's margins (secondary suppression, `protectCells`);
 * with the term's `rounding` the other counts are rounded. Cells are sorted by their values. Pure. Throws INVALID_ARGUMENT when `sourceType` is not one of the term's types.
 */
export function aggregate(
  term: AggregateTerm,
  sourceType: EventType,
  events: Iterable<PolicyEvent>,
  periodStart: Date,
  options: {
    /** With a term's `noise: cell-key`: each event's record key (an unsigned 32-bit keyed hash of its id). */
    readonly recordKey?: (event: PolicyEvent) => number;
  } = {},
): StatsAggregateBody {
  if (!isEventType(sourceType) || !term.types.includes(sourceType)) {
    throw new AgreementError(
      'INVALID_ARGUMENT',
      `${sourceType} is not a type of the term (${term.types.join(', ')})`,
    );
  }
  const { period, start, end } = periodBounds(periodStart, term.period);
  const byPerson = term.dimensions.some((d) => personAttribute(d) !== undefined);
  const counts = new Map<string, { values: string[]; count: number }>();
  const cellKeys: Record<string, number> = {};
  let recordKey = 0;
  const add = (values: string[]): void => {
    const key = JSON.stringify(values);
    const cell = counts.get(key);
    if (cell === undefined) counts.set(key, { values, count: 1 });
    else cell.count += 1;
    cellKeys[key] = addKey(cellKeys[key] ?? 0, recordKey);
  };
  for (const event of events) {
    if (event.type !== sourceType || !matchesWhere(term.where, event.claims)) continue;
    const occurredAt = event.claims.occurredAt;
    const t = typeof occurredAt === 'string' ? parseTimestamp(occurredAt) : undefined;
    if (t === undefined || t < start.getTime() || t >= end.getTime()) continue;
    recordKey = options.recordKey?.(event) ?? 0;
    const valueOf = (dimension: string, person: Claims | undefined): string => {
      const attr = personAttribute(dimension);
      return text(attr === undefined ? event.claims[dimension] : person?.[attr]);
    };
    if (!byPerson) add(term.dimensions.map((d) => valueOf(d, undefined)));
    else
      for (const person of personsOf(sourceType, event.claims))
        add(term.dimensions.map((d) => valueOf(d, person)));
  }
  const control = options.recordKey === undefined ? controlOf(term) : { ...controlOf(term), cellKeys };
  const cells = suppressCells(counts.values(), control);
  return { period, sourceType, dimensions: [...term.dimensions], cells, minCell: term.minCell };
}

/** The cell control of an aggregate term (without linked tables). */
export function controlOf(term: AggregateTerm): CellControl {
  return { minCell: term.minCell, rounding: term.rounding, noise: term.noise, dimensions: term.dimensions };
}

const KEY_MODULUS = 2 ** 32;

/** Cell key `key` with `times` more contributions of record key `record` (negative: taken out), mod 2³². */
export function addKey(key: number, record: number, times = 1): number {
  return (((key + record * times) % KEY_MODULUS) + KEY_MODULUS) % KEY_MODULUS;
}

/**
 * The noise of a cell with cell key `key` (0 … 2³²−1, uniform for distinct record sets): −2, −1, 0, +1, +2
 * with probabilities 0.05, 0.2, 0.5, 0.2, 0.05 (mean 0, variance 0.8): the cell-key method's lookup table,
 * bounded so that a published count is never far from the truth.
 */
export function cellKeyNoise(key: number): number {
  const u = key / KEY_MODULUS;
  return u < 0.05 ? -2 : u < 0.25 ? -1 : u < 0.75 ? 0 : u < 0.95 ? 1 : 2;
}

/** A cell as published: its count, or, below `minCell`, suppressed (count 0). */
export function suppressCell(values: readonly string[], count: number, minCell: number): AggregateCell {
  return count < minCell ? { values, count: 0, suppressed: true } : { values, count, suppressed: false };
}

/** A suppressed cell as published (count 0), `secondary: true` when it is a complement. */
export function suppressedCell(values: readonly string[], secondary: boolean): AggregateCell {
  return secondary
    ? { values, count: 0, suppressed: true, secondary: true }
    : { values, count: 0, suppressed: true };
}

/**
 * A published count rounded to the nearest multiple of `rounding` (halves up), never below minCell (then
 * the smallest multiple at or above it). Without rounding, or with minCell 0 (true counts), the count.
 */
export function roundCount(count: number, control: CellControl): number {
  const { rounding, minCell } = control;
  if (rounding === undefined || rounding < 2 || minCell === 0) return count;
  const r = Math.floor(count / rounding + 0.5) * rounding;
  return r >= minCell ? r : Math.ceil(minCell / rounding) * rounding;
}

/** A protected cell as published: suppressed (count 0), or its count with its cell-key noise (never below
 * minCell) and rounded. */
export function publishCell(cell: ProtectedCell, control: CellControl): AggregateCell {
  if (cell.suppressed) return suppressedCell(cell.values, cell.secondary === true);
  const key = control.noise === 'cell-key' ? control.cellKeys?.[JSON.stringify(cell.values)] : undefined;
  const noisy =
    key === undefined || control.minCell === 0
      ? cell.count
      : Math.max(control.minCell, cell.count + cellKeyNoise(key));
  return { values: cell.values, count: roundCount(noisy, control), suppressed: false };
}

/**
 * The published cells of counted ones: sorted by their values, those below minCell suppressed, then the
 * secondary suppression (`protectCells`), then rounding. `control` may be just the minCell.
 */
export function suppressCells(
  counted: Iterable<{ readonly values: readonly string[]; readonly count: number }>,
  control: number | CellControl,
): AggregateCell[] {
  return protectedCells(counted, control).cells.map((c) => publishCell(c, asControl(control)));
}

/** The cells `suppressCells` publishes, with their true counts (as the basis of later vintages). */
export function protectedCells(
  counted: Iterable<{ readonly values: readonly string[]; readonly count: number }>,
  control: number | CellControl,
): ProtectedTable {
  const c = asControl(control);
  const primary = sortCells([...counted]).map(({ values, count }) => ({
    values,
    count,
    suppressed: count < c.minCell,
  }));
  return protectTable(primary, c);
}

export const asControl = (control: number | CellControl): CellControl =>
  typeof control === 'number' ? { minCell: control } : control;

/** Cells sorted by their values, as every aggregate lists them. */
export function sortCells<C extends { readonly values: readonly string[] }>(cells: readonly C[]): C[] {
  return [...cells].sort((a, b) => compareValues(a.values, b.values));
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i] ?? '', b[i] ?? ''];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
