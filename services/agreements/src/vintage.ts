import { sortCells, suppressCell, suppressCells, type AggregateCell } from './aggregate.js';

/** A cell's values and its true count (all the events counted so far, nothing suppressed). */
export interface CountedCell {
  readonly values: readonly string[];
  readonly count: number;
}

/**
 * What one published vintage of a period's aggregate shows, and the true counts behind it: `basis`
 * holds, per cell (by the JSON of its values), the count its published cell was made from.
 */
export interface AggregateVintage {
  /** The cells as published: sorted by their values, those below minCell suppressed. */
  readonly cells: readonly AggregateCell[];
  readonly basis: Readonly<Record<string, number>>;
}

/** A revised vintage, and whether any cell shows something else than in the vintage before it. */
export interface RevisedVintage extends AggregateVintage {
  readonly changed: boolean;
}

const keyOf = (values: readonly string[]): string => JSON.stringify(values);

/** The first vintage of a period: every cell, those below minCell suppressed (as `aggregate` does). */
export function firstVintage(counted: Iterable<CountedCell>, minCell: number): AggregateVintage {
  const list = [...counted];
  return {
    cells: suppressCells(list, minCell),
    basis: Object.fromEntries(list.map((c) => [keyOf(c.values), c.count])),
  };
}

/**
 * The next vintage of a period after events were counted late. The difference of two vintages must not
 * tell what minCell hides: so a cell shows a new count only where its true count moved by at least
 * minCell since the count its published cell was made from; otherwise it keeps what it published
 * (its count, or suppressed), and a cell that was not published stays out. A cell that does change
 * therefore shows at least minCell more, or (events withdrawn or corrected) at least minCell fewer, than it
 * was made from; one that falls below minCell shows suppressed. Pure.
 */
export function reviseVintage(
  previous: AggregateVintage,
  counted: Iterable<CountedCell>,
  minCell: number,
): RevisedVintage {
  const published = new Map(previous.cells.map((c) => [keyOf(c.values), c]));
  const basis: Record<string, number> = { ...previous.basis };
  const cells = new Map<string, AggregateCell>(published);
  let changed = false;
  for (const { values, count } of counted) {
    const key = keyOf(values);
    const before = basis[key] ?? 0;
    if (Math.abs(count - before) < minCell) continue;
    cells.set(key, suppressCell(values, count, minCell));
    basis[key] = count;
    changed = true;
  }
  return { cells: sortCells([...cells.values()]), basis, changed };
}

/**
 * What a vintage published without its basis (by an earlier version) was made from, as far as it can
 * be told: a published count is its own basis; a suppressed cell's count is taken as the largest it
 * could have been (minCell − 1), so that no later change below minCell can show.
 */
export function basisOf(cells: readonly AggregateCell[], minCell: number): Record<string, number> {
  return Object.fromEntries(
    cells.map((c) => [keyOf(c.values), c.suppressed ? Math.max(0, minCell - 1) : c.count]),
  );
}
