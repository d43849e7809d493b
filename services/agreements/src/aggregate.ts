import { isEventType, parseTimestamp, type EventType } from '@wbx/schema';

import type { AggregateTerm } from './body.js';
import { AgreementError } from './errors.js';
import { matchesWhere } from './internal/where.js';
import { personAttribute, personField } from './paths.js';
import { periodBounds } from './period.js';
import type { PolicyEvent } from './policy.js';

/** The value a cell shows for a dimension the event does not carry (an optional field left out). */
export const MISSING_VALUE = 'unknown';

/** One cell: a combination of dimension values and how many it counts (0 when suppressed). */
export interface AggregateCell {
  readonly values: readonly string[];
  readonly count: number;
  readonly suppressed: boolean;
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
 * below the term's minCell are suppressed: count 0, suppressed true. Cells are sorted by their values.
 * Pure. Throws INVALID_ARGUMENT when `sourceType` is not one of the term's types.
 */
export function aggregate(
  term: AggregateTerm,
  sourceType: EventType,
  events: Iterable<PolicyEvent>,
  periodStart: Date,
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
  const add = (values: string[]): void => {
    const key = JSON.stringify(values);
    const cell = counts.get(key);
    if (cell === undefined) counts.set(key, { values, count: 1 });
    else cell.count += 1;
  };
  for (const event of events) {
    if (event.type !== sourceType || !matchesWhere(term.where, event.claims)) continue;
    const occurredAt = event.claims.occurredAt;
    const t = typeof occurredAt === 'string' ? parseTimestamp(occurredAt) : undefined;
    if (t === undefined || t < start.getTime() || t >= end.getTime()) continue;
    const valueOf = (dimension: string, person: Claims | undefined): string => {
      const attr = personAttribute(dimension);
      return text(attr === undefined ? event.claims[dimension] : person?.[attr]);
    };
    if (!byPerson) add(term.dimensions.map((d) => valueOf(d, undefined)));
    else
      for (const person of personsOf(sourceType, event.claims))
        add(term.dimensions.map((d) => valueOf(d, person)));
  }
  const cells = suppressCells(counts.values(), term.minCell);
  return { period, sourceType, dimensions: [...term.dimensions], cells, minCell: term.minCell };
}

/** A cell as published: its count, or, below `minCell`, suppressed (count 0). */
export function suppressCell(values: readonly string[], count: number, minCell: number): AggregateCell {
  return count < minCell ? { values, count: 0, suppressed: true } : { values, count, suppressed: false };
}

/** The published cells of counted ones: sorted by their values, those below `minCell` suppressed. */
export function suppressCells(
  counted: Iterable<{ readonly values: readonly string[]; readonly count: number }>,
  minCell: number,
): AggregateCell[] {
  return sortCells([...counted]).map(({ values, count }) => suppressCell(values, count, minCell));
}

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
