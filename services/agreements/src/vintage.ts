import {
  asControl,
  protectedCells,
  publishCell,
  sortCells,
  suppressedCell,
  type AggregateCell,
  type CellControl,
} from './aggregate.js';
import { protectTable } from './secondary-suppression.js';

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
  /**
   * False when the linked tables of the same events leave one of its suppressed cells derivable whatever
   * it suppresses (`protectTable`): it must not be published.
   */
  readonly safe?: boolean;
}

/** A revised vintage, and whether any cell shows something else than in the vintage before it. */
export interface RevisedVintage extends AggregateVintage {
  readonly changed: boolean;
}

const keyOf = (values: readonly string[]): string => JSON.stringify(values);

/**
 * The first vintage of a period: every cell, those below minCell suppressed, the secondary suppression
 * and rounding applied (as `aggregate` does; `control` may add linked tables).
 */
export function firstVintage(
  counted: Iterable<CountedCell>,
  control: number | CellControl,
): AggregateVintage {
  const list = [...counted];
  const c = asControl(control);
  const table = protectedCells(list, c);
  return {
    cells: table.cells.map((cell) => publishCell(cell, c)),
    basis: Object.fromEntries(list.map((cell) => [keyOf(cell.values), cell.count])),
    safe: table.safe,
  };
}

/**
 * The next vintage of a period after events were counted late. The difference of two vintages must not
 * tell what minCell hides: so a cell shows a new count only where its true count moved by at least
 * minCell since the count its published cell was made from; otherwise it keeps what it published
 * (its count, or suppressed), and a cell that was not published stays out. A cell that does change
 * therefore shows at least minCell more, or (events withdrawn or corrected) at least minCell fewer, than it
 * was made from; one that falls below minCell shows suppressed. The secondary suppression is applied
 * again to the result (on the counts the cells were made from), so a cell that now shows may make
 * another suppressed; a cell once suppressed stays so until its count moves by minCell. Pure.
 */
export function reviseVintage(
  previous: AggregateVintage,
  counted: Iterable<CountedCell>,
  control: number | CellControl,
): RevisedVintage {
  const c = asControl(control);
  const { minCell } = c;
  const published = new Map(previous.cells.map((c) => [keyOf(c.values), c]));
  const basis: Record<string, number> = { ...previous.basis };
  const cells = new Map<string, AggregateCell>(published);
  let changed = false;
  for (const { values, count } of counted) {
    const key = keyOf(values);
    const before = basis[key] ?? 0;
    if (Math.abs(count - before) < minCell) continue;
    cells.set(key, publishCell({ values, count, suppressed: count < minCell }, c));
    basis[key] = count;
    changed = true;
  }
  const listed = sortCells([...cells.values()]);
  const secured = protectTable(
    listed.map((cell) => ({ ...cell, count: basis[keyOf(cell.values)] ?? cell.count })),
    c,
  );
  return {
    // A cell protectTable suppresses now is a complement (`secondary`); one suppressed before keeps its
    // kind (a secondary suppression stays one until its count moves by minCell, then it is re-counted).
    cells: listed.map((cell, i) => {
      const now = secured.cells[i];
      return now?.suppressed === true && !cell.suppressed
        ? suppressedCell(cell.values, now.secondary === true)
        : cell;
    }),
    basis,
    changed,
    safe: secured.safe,
  };
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
