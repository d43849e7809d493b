/** A cell with its true count and whether it is (to be) published suppressed. */
export interface ProtectedCell {
  readonly values: readonly string[];
  /** The true count (never published when suppressed). */
  readonly count: number;
  readonly suppressed: boolean;
  /** Set on a cell suppressed as a complement (to protect another cell); absent otherwise. */
  readonly secondary?: true;
}

/**
 * A table of the same events already published (another term or agreement of the same origin, same
 * source type, period, where-conditions and unit): its cells as published, with the true counts behind
 * them. Its suppression pattern is fixed; the table being protected adapts to it.
 */
export interface LinkedTable {
  readonly dimensions: readonly string[];
  readonly cells: readonly ProtectedCell[];
  /** Its minCell: which of its suppressed cells are below it (absent: all are taken to be). */
  readonly minCell?: number;
}

/** A cell of the protected table (`table` −1) or of a linked table, in the equations. */
interface Cell {
  readonly table: number;
  readonly count: number;
  /** Below its table's minCell: never to be derived. */
  readonly primary: boolean;
}

/**
 * One linear relation a recipient holds: the cells of two tables in a group of the dimensions they share
 * (none shared: the grand total) add up to the same figure. Cells by index into the cell list.
 */
interface Equation {
  readonly left: readonly number[];
  readonly right: readonly number[];
}

const groupKey = (values: readonly string[], at: readonly number[]): string =>
  JSON.stringify(at.map((i) => values[i] ?? ''));

function equationsOf(
  tables: readonly { dimensions: readonly string[]; cells: readonly number[] }[],
  values: (i: number) => readonly string[],
): Equation[] {
  const out: Equation[] = [];
  for (let a = 0; a < tables.length; a++) {
    for (let b = a + 1; b < tables.length; b++) {
      const [ta, tb] = [tables[a], tables[b]];
      if (ta === undefined || tb === undefined) continue;
      const shared = ta.dimensions.filter((d) => tb.dimensions.includes(d));
      const atA = shared.map((d) => ta.dimensions.indexOf(d));
      const atB = shared.map((d) => tb.dimensions.indexOf(d));
      const groups = new Map<string, { left: number[]; right: number[] }>();
      const group = (k: string) => {
        let g = groups.get(k);
        if (g === undefined) groups.set(k, (g = { left: [], right: [] }));
        return g;
      };
      for (const i of ta.cells) group(groupKey(values(i), atA)).left.push(i);
      for (const i of tb.cells) group(groupKey(values(i), atB)).right.push(i);
      out.push(...groups.values());
    }
  }
  return out;
}

/** A table's cells after secondary suppression, and whether that protects them. */
export interface ProtectedTable {
  readonly cells: ProtectedCell[];
  /**
   * False when no suppression of this table keeps every suppressed cell (its own or a linked table's)
   * from being derived: e.g. the linked tables' published cells and which cells this table lists (a
   * cell it does not list counts 0) give one away. Such a table must not be published.
   */
  readonly safe: boolean;
}

/**
 * Secondary suppression against linked tables: suppresses further cells of a table (its primary
 * suppression done) so that no suppressed cell, of it or of a linked table, can be recovered by
 * subtraction. A recipient of both holds, for each group of the dimensions the two tables share (none
 * shared: the grand total), one equation: this table's cells in the group add up to the linked table's.
 * An equation is unsafe when exactly one of its cells is unknown (suppressed, and not otherwise known),
 * or when all its unknown cells are on one side and add up to as many as there are of them (each,
 * present, is at least 1: all are 1). The standard heuristic (as tau-ARGUS's hypercube method, simplified
 * to one table adapting to fixed ones): in each unsafe equation suppress this table's smallest published
 * cell (ties: the first in the table's order), and repeat until no equation is unsafe. A cell of this table
 * alone in its group, whose linked group is all published, is known (the linked table published it) and
 * protects nothing; one that becomes known otherwise, or an unsafe equation with no cell of this table
 * left to suppress, makes the table unsafe (`safe: false`). A table without linked tables is left as it
 * is: no margin of it is published. Deterministic; the cells stay in their order. A cell it suppresses
 * is marked `secondary: true` (a complement, which may hold any count); cells suppressed on the way in
 * keep what they were.
 */
export function protectTable(
  cells: readonly ProtectedCell[],
  options: {
    readonly dimensions?: readonly string[];
    readonly linked?: readonly LinkedTable[];
    readonly minCell?: number;
  } = {},
): ProtectedTable {
  const { dimensions, linked = [] } = options;
  if (cells.length === 0 || dimensions === undefined || linked.length === 0) {
    return { cells: [...cells], safe: true };
  }
  // All cells in one list: this table's first (table −1), then each linked table's.
  const all: (Cell & { values: readonly string[] })[] = cells.map((c) => ({
    table: -1,
    values: c.values,
    count: c.count,
    primary: c.suppressed,
  }));
  const tables = [{ dimensions, cells: cells.map((_, i) => i) }];
  linked.forEach((t, ti) => {
    const at = all.length;
    for (const c of t.cells) {
      all.push({ table: ti, values: c.values, count: c.count, primary: c.count < (t.minCell ?? Infinity) });
    }
    tables.push({ dimensions: t.dimensions, cells: t.cells.map((_, i) => at + i) });
  });
  const suppressed = [
    ...cells.map((c) => c.suppressed),
    ...linked.flatMap((t) => t.cells.map((c) => c.suppressed)),
  ];
  const known = all.map(() => false);
  const isOwn = (i: number) => i < cells.length;
  const equations = equationsOf(tables, (i) => all[i]?.values ?? []);
  const mine = equations.filter((eq) => [...eq.left, ...eq.right].some(isOwn));
  const theirs = equations.filter((eq) => ![...eq.left, ...eq.right].some(isOwn));
  const unknown = (i: number) => suppressed[i] === true && known[i] !== true;
  const count = (i: number) => all[i]?.count ?? 0;
  // What the linked tables give away among themselves, before this one: not this table's doing.
  for (let changed = true; changed;) {
    changed = false;
    for (const eq of theirs) {
      const [l, r] = [eq.left.filter(unknown), eq.right.filter(unknown)];
      if (!unsafe(l.map(count), r.map(count))) continue;
      for (const i of [...l, ...r]) known[i] = true;
      changed = true;
    }
  }
  let safe = true;
  for (let changed = true; changed;) {
    changed = false;
    for (const eq of [...mine, ...theirs]) {
      const [l, r] = [eq.left.filter(unknown), eq.right.filter(unknown)];
      if (!unsafe(l.map(count), r.map(count))) continue;
      let pick: number | undefined;
      for (const i of [...eq.left, ...eq.right]) {
        if (!isOwn(i) || suppressed[i] === true) continue;
        if (pick === undefined || count(i) < count(pick)) pick = i;
      }
      if (pick !== undefined) suppressed[pick] = true;
      else {
        const found = [...l, ...r];
        // A cell of this table alone in its group whose linked group is all published: given by that
        // table (harmless). Any other below its minCell: a leak no suppression here prevents.
        const direct =
          found.length === 1 &&
          [eq.left, eq.right].some((side) => side.length === 1 && side[0] === found[0]) &&
          [...eq.left, ...eq.right].every((i) => i === found[0] || suppressed[i] !== true);
        if (!direct && found.some((i) => all[i]?.primary === true)) safe = false;
        for (const i of found) known[i] = true;
      }
      changed = true;
    }
  }
  return {
    cells: cells.map((c, i) =>
      suppressed[i] === c.suppressed ? c : { ...c, suppressed: true, secondary: true as const },
    ),
    safe,
  };
}

/** The cells of {@link protectTable}, whether or not it found them safe. */
export function protectCells(
  cells: readonly ProtectedCell[],
  options: { readonly dimensions?: readonly string[]; readonly linked?: readonly LinkedTable[] } = {},
): ProtectedCell[] {
  return protectTable(cells, options).cells;
}

/** Whether an equation with these unknown counts on its two sides gives one of them away. */
function unsafe(own: readonly number[], fixed: readonly number[]): boolean {
  const m = own.length + fixed.length;
  if (m === 0) return false;
  if (m === 1) return true;
  if (own.length > 0 && fixed.length > 0) return false;
  const sum = [...own, ...fixed].reduce((s, n) => s + n, 0);
  return sum === m;
}
