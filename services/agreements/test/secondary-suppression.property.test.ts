import { createHash } from 'node:crypto';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  aggregate,
  cellKeyNoise,
  firstVintage,
  protectCells,
  roundCount,
  type AggregateTerm,
  type LinkedTable,
  type PolicyEvent,
  type ProtectedCell,
} from '../src/index.js';

/** The dimensions the random tables pick from, and their values. */
const DOMAINS: Readonly<Record<string, readonly string[]>> = {
  routeSegment: ['GR-MK', 'MK-RS', 'RS-HU', 'BA-HR'],
  citizenship: ['AFG', 'SYR', 'MAR', 'TUR', 'unknown'],
  sex: ['female', 'male'],
};
const DIMENSIONS = Object.keys(DOMAINS);

/** One record of the microdata: a value per dimension. */
type Unit = Readonly<Record<string, string>>;

const unitArb: fc.Arbitrary<Unit> = fc.record(
  Object.fromEntries(DIMENSIONS.map((d) => [d, fc.constantFrom(...(DOMAINS[d] ?? []))])),
);

/** Microdata with many small cells: a few values repeated, and a tail of rare combinations. */
const microdataArb = fc
  .tuple(
    fc.array(fc.tuple(unitArb, fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 12 }),
    fc.array(unitArb, { maxLength: 25 }),
  )
  .map(([common, rare]) => [...common.flatMap(([u, n]) => Array<Unit>(n).fill(u)), ...rare]);

/** The terms of the agreements one origin has over the same events: a dimension set and a minCell each. */
const termsArb = (sameMinCell: boolean) =>
  fc.array(
    fc.record({
      dimensions: fc.subarray(DIMENSIONS, { minLength: 1 }),
      minCell: sameMinCell ? fc.constant(5) : fc.integer({ min: 3, max: 12 }),
    }),
    { minLength: 2, maxLength: 4 },
  );

interface Published {
  readonly dimensions: readonly string[];
  readonly minCell?: number;
  /** As published (suppressed or not), with the true counts the attacker solves for. */
  readonly cells: readonly ProtectedCell[];
}

function countsOf(units: readonly Unit[], dimensions: readonly string[]) {
  const counts = new Map<string, number>();
  for (const u of units) {
    const k = JSON.stringify(dimensions.map((d) => u[d] ?? ''));
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, count]) => ({ values: JSON.parse(k) as string[], count }));
}

/** The origin's publications, one table after the other, each protected against those before it. */
function publishAll(
  units: readonly Unit[],
  terms: readonly { dimensions: readonly string[]; minCell: number }[],
): Published[] {
  const out: Published[] = [];
  for (const { dimensions, minCell } of terms) {
    const counted = countsOf(units, dimensions);
    const linked: LinkedTable[] = out;
    const v = firstVintage(counted, { minCell, dimensions, linked });
    if (v.safe === false) continue; // withheld, as the aggregator does
    const cells = v.cells.map((c) => ({
      values: c.values,
      count: v.basis[JSON.stringify(c.values)] ?? 0,
      suppressed: c.suppressed,
    }));
    for (const c of cells) {
      if (!c.suppressed) expect(c.count).toBeGreaterThanOrEqual(minCell);
      if (c.count < minCell) expect(c.suppressed).toBe(true);
    }
    out.push({ dimensions, minCell, cells });
  }
  return out;
}

const idOf = (table: number, values: readonly string[]) => `${table}:${JSON.stringify(values)}`;

/**
 * The attacker: a recipient of every table solves the equations it holds (for every two tables, per group
 * of the dimensions they share, both sides add up to the same): an equation with one unknown gives it, and
 * one whose unknowns are all on one side and add up to as many as there are of them gives them all (each
 * is at least 1). Repeated until nothing new is found. Returns the ids of the suppressed cells found.
 */
function attack(tables: readonly Published[]): Set<string> {
  interface Side {
    readonly ids: string[];
    readonly counts: number[];
  }
  const equations: [Side, Side][] = [];
  const suppressedIds = new Set<string>();
  tables.forEach((t, ti) => {
    for (const c of t.cells) if (c.suppressed) suppressedIds.add(idOf(ti, c.values));
  });
  for (let a = 0; a < tables.length; a++) {
    for (let b = a + 1; b < tables.length; b++) {
      const [ta, tb] = [tables[a]!, tables[b]!];
      const shared = ta.dimensions.filter((d) => tb.dimensions.includes(d));
      const groups = new Map<string, [Side, Side]>();
      const add = (table: Published, ti: number, side: 0 | 1) => {
        for (const c of table.cells) {
          const k = JSON.stringify(shared.map((d) => c.values[table.dimensions.indexOf(d)]));
          const g = groups.get(k) ?? [
            { ids: [], counts: [] },
            { ids: [], counts: [] },
          ];
          groups.set(k, g);
          g[side].ids.push(idOf(ti, c.values));
          g[side].counts.push(c.count);
        }
      };
      add(ta, a, 0);
      add(tb, b, 1);
      equations.push(...groups.values());
    }
  }
  const found = new Set<string>();
  const unknown = (id: string) => suppressedIds.has(id) && !found.has(id);
  for (let progress = true; progress;) {
    progress = false;
    for (const [left, right] of equations) {
      const l = left.ids.flatMap((id, i) => (unknown(id) ? [[id, left.counts[i]!] as const] : []));
      const r = right.ids.flatMap((id, i) => (unknown(id) ? [[id, right.counts[i]!] as const] : []));
      const all = [...l, ...r];
      const oneSided = l.length === 0 || r.length === 0;
      const sum = all.reduce((s, [, n]) => s + n, 0);
      if (all.length === 1 || (all.length > 1 && oneSided && sum === all.length)) {
        for (const [id] of all) found.add(id);
        progress = true;
      }
    }
  }
  return found;
}

/**
 * Whether suppressed cell `values` of table `ti` is given by an earlier table: it is alone in its group of
 * the dimensions the two share, and that table's cells in the group are all published (that table's
 * recipient held them before this one was published).
 */
function givenByEarlier(tables: readonly Published[], ti: number, values: readonly string[]): boolean {
  const t = tables[ti]!;
  return tables.slice(0, ti).some((q) => {
    const shared = t.dimensions.filter((d) => q.dimensions.includes(d));
    const key = (table: Published, v: readonly string[]) =>
      JSON.stringify(shared.map((d) => v[table.dimensions.indexOf(d)]));
    const k = key(t, values);
    const alone = t.cells.filter((c) => key(t, c.values) === k).length === 1;
    return alone && q.cells.filter((c) => key(q, c.values) === k).every((c) => !c.suppressed);
  });
}

describe('secondary suppression', () => {
  /** The cells below their table's minCell that the attacker finds and no earlier table had published. */
  const leaks = (tables: readonly Published[]) =>
    [...attack(tables)].filter((id) => {
      const [ti, json] = [Number(id.slice(0, id.indexOf(':'))), id.slice(id.indexOf(':') + 1)];
      const table = tables[ti]!;
      const cell = table.cells.find((c) => idOf(ti, c.values) === id);
      const primary = (cell?.count ?? 0) < (table.minCell ?? 0);
      return primary && !givenByEarlier(tables, ti, JSON.parse(json) as string[]);
    });

  it('leaves no cell below minCell derivable by subtraction from the tables one recipient receives', () => {
    fc.assert(
      fc.property(microdataArb, termsArb(true), (units, terms) => {
        expect(leaks(publishAll(units, terms))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('lets no cell below minCell be derived but those an earlier table published (minCells differ)', () => {
    fc.assert(
      fc.property(microdataArb, termsArb(false), (units, terms) => {
        expect(leaks(publishAll(units, terms))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('does find the hole without it: a coarser table minus the finer one gives a suppressed cell', () => {
    // A gets (segment, citizenship), B (segment): B's GR-MK total minus A's published cells is AFG's 2.
    const a: Published = {
      dimensions: ['routeSegment', 'citizenship'],
      cells: [
        { values: ['GR-MK', 'AFG'], count: 2, suppressed: true },
        { values: ['GR-MK', 'SYR'], count: 30, suppressed: false },
      ],
    };
    const counted = [{ values: ['GR-MK'], count: 32 }];
    const unprotected: Published = {
      dimensions: ['routeSegment'],
      cells: counted.map((c) => ({ ...c, suppressed: false })),
    };
    expect([...attack([a, unprotected])]).toEqual([idOf(0, ['GR-MK', 'AFG'])]);
    const protectedB = firstVintage(counted, { minCell: 5, dimensions: ['routeSegment'], linked: [a] });
    expect(protectedB.cells).toEqual([{ values: ['GR-MK'], count: 0, suppressed: true, secondary: true }]);
  });

  it('changes nothing in a table without linked tables', () => {
    const cells = [
      { values: ['GR-MK'], count: 2, suppressed: true },
      { values: ['RS-HU'], count: 40, suppressed: false },
    ];
    expect(protectCells(cells, { dimensions: ['routeSegment'] })).toEqual(cells);
  });

  it('is deterministic: the same tables in give the same suppression out', () => {
    fc.assert(
      fc.property(microdataArb, termsArb(false), (units, terms) => {
        expect(publishAll(units, terms)).toEqual(publishAll(units, terms));
      }),
      { numRuns: 50 },
    );
  });
});

describe('roundCount', () => {
  it('rounds to a multiple of the base, at least minCell, within half a base above it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 20 }),
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 0, max: 5_000 }),
        (minCell, rounding, extra) => {
          const count = minCell + extra;
          const r = roundCount(count, { minCell, rounding });
          expect(r % rounding).toBe(0);
          expect(r).toBeGreaterThanOrEqual(minCell);
          if (r - rounding >= minCell) expect(Math.abs(r - count)).toBeLessThanOrEqual(rounding / 2);
          expect(roundCount(count, { minCell, rounding })).toBe(r);
        },
      ),
    );
  });

  it('is unbiased over a range of counts away from minCell', () => {
    let error = 0;
    const counts = Array.from({ length: 1_000 }, (_, i) => 100 + i);
    for (const n of counts) error += roundCount(n, { minCell: 5, rounding: 5 }) - n;
    expect(Math.abs(error / counts.length)).toBeLessThan(0.5);
  });

  it('leaves the true counts alone with minCell 0 or no rounding', () => {
    expect(roundCount(12, { minCell: 0, rounding: 5 })).toBe(12);
    expect(roundCount(12, { minCell: 5 })).toBe(12);
  });
});

describe('cell-key noise', () => {
  const term: AggregateTerm = {
    types: ['smuggling.incident'],
    mode: 'aggregate',
    dimensions: ['routeSegment'],
    period: 'week',
    minCell: 3,
    retentionDays: 30,
    noise: 'cell-key',
  };
  const start = new Date('2023-09-04T00:00:00Z');
  /** `n` incidents on `segment`, each with its own id, at noon of the week's Monday. */
  const incidents = (segment: string, n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => ({
      id: `${segment}-${from + i}`,
      event: {
        type: 'smuggling.incident',
        origin: 'MK',
        claims: { occurredAt: '2023-09-04T12:00:00Z', routeSegment: segment },
      },
    }));
  const keyOf = (id: string) => createHash('sha256').update(`secret/${id}`).digest().readUInt32BE(0);
  const run = (list: { id: string; event: PolicyEvent }[]) => {
    const ids = new Map(list.map(({ id, event }) => [event, id]));
    return aggregate(
      term,
      'smuggling.incident',
      list.map((e) => e.event),
      start,
      { recordKey: (e) => keyOf(ids.get(e) ?? '') },
    ).cells;
  };

  it('gives the same records the same noise, in any order, and bounded noise', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 200 }), fc.integer({ min: 1, max: 1_000 }), (n, from) => {
        const list = incidents('GR-MK', n, from);
        const [cell] = run(list);
        expect(run([...list].reverse())).toEqual([cell]);
        expect(cell?.suppressed).toBe(false);
        expect(Math.abs((cell?.count ?? 0) - n)).toBeLessThanOrEqual(2);
        expect(cell?.count).toBeGreaterThanOrEqual(term.minCell);
      }),
    );
  });

  it('is unbiased over many cells; without record keys the counts are exact', () => {
    let error = 0;
    const cells = 2_000;
    for (let c = 0; c < cells; c++) error += (run(incidents(`S${c}`, 50))[0]?.count ?? 0) - 50;
    expect(Math.abs(error / cells)).toBeLessThan(0.1);
    expect(cellKeyNoise(0)).toBe(-2);
    expect(cellKeyNoise(2 ** 32 - 1)).toBe(2);
    // Without record keys (or without the term's noise): the exact counts.
    expect(
      aggregate(
        term,
        'smuggling.incident',
        incidents('GR-MK', 7).map((e) => e.event),
        start,
      ).cells,
    ).toEqual([{ values: ['GR-MK'], count: 7, suppressed: false }]);
  });
});
