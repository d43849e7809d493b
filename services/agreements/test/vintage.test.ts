import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { basisOf, firstVintage, reviseVintage, type AggregateVintage } from '../src/index.js';

const cell = (value: string, count: number) => ({ values: [value], count });

describe('firstVintage', () => {
  it('publishes every cell, those below minCell suppressed, sorted, with their true counts as basis', () => {
    const v = firstVintage([cell('RS-HU', 2), cell('GR-MK', 10)], 3);
    expect(v.cells).toEqual([
      { values: ['GR-MK'], count: 10, suppressed: false },
      { values: ['RS-HU'], count: 0, suppressed: true },
    ]);
    expect(v.basis).toEqual({ '["GR-MK"]': 10, '["RS-HU"]': 2 });
  });
});

describe('reviseVintage', () => {
  const first = firstVintage([cell('GR-MK', 10), cell('RS-HU', 2)], 3);

  it('keeps a cell whose count moved by less than minCell, and says nothing changed', () => {
    const r = reviseVintage(first, [cell('GR-MK', 11), cell('RS-HU', 4), cell('XK-RS', 2)], 3);
    expect(r.changed).toBe(false);
    expect(r.cells).toEqual(first.cells);
    expect(r.basis).toEqual(first.basis);
  });

  it('shows a cell that moved by minCell or more, from the count it was published from', () => {
    const r = reviseVintage(first, [cell('GR-MK', 13), cell('RS-HU', 5), cell('XK-RS', 3)], 3);
    expect(r.changed).toBe(true);
    expect(r.cells).toEqual([
      { values: ['GR-MK'], count: 13, suppressed: false },
      { values: ['RS-HU'], count: 5, suppressed: false },
      { values: ['XK-RS'], count: 3, suppressed: false },
    ]);
    expect(r.basis).toEqual({ '["GR-MK"]': 13, '["RS-HU"]': 5, '["XK-RS"]': 3 });
  });

  it('never shows a change below minCell between two vintages, however late events arrive', () => {
    const values = ['A', 'B', 'C'];
    const batch = fc.array(fc.tuple(fc.constantFrom(...values), fc.integer({ min: 1, max: 4 })), {
      maxLength: 6,
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), batch, fc.array(batch, { maxLength: 8 }), (k, a, late) => {
        const counts = new Map<string, number>();
        const addAll = (b: [string, number][]) => {
          for (const [v, n] of b) counts.set(v, (counts.get(v) ?? 0) + n);
        };
        const counted = () => [...counts].map(([v, n]) => cell(v, n));
        addAll(a);
        let vintage: AggregateVintage = firstVintage(counted(), k);
        for (const b of late) {
          addAll(b);
          const next = reviseVintage(vintage, counted(), k);
          const shown = new Map(vintage.cells.map((c) => [c.values[0], c]));
          for (const c of next.cells) {
            const was = shown.get(c.values[0]);
            if (was === undefined) {
              // A cell shows up only with at least minCell.
              expect(c.suppressed ? 0 : c.count).toBeGreaterThanOrEqual(k);
              continue;
            }
            if (was.suppressed === c.suppressed && was.count === c.count) continue;
            // A changed cell shows at least minCell more than the true count it was published from.
            expect(c.suppressed).toBe(false);
            expect(c.count - (vintage.basis[JSON.stringify(c.values)] ?? 0)).toBeGreaterThanOrEqual(k);
          }
          expect(next.changed).toBe(JSON.stringify(next.cells) !== JSON.stringify(vintage.cells));
          vintage = next;
        }
      }),
    );
  });
});

describe('reviseVintage after withdrawals and corrections', () => {
  it('shows a cell that fell by at least minCell, suppressed below it, and keeps a smaller fall hidden', () => {
    const first = firstVintage([cell('SYR', 10), cell('AFG', 8), cell('TUR', 9)], 3);
    const next = reviseVintage(first, [cell('SYR', 7), cell('AFG', 2), cell('TUR', 8)], 3);
    expect(next.changed).toBe(true);
    expect(next.cells).toEqual([
      { values: ['AFG'], count: 0, suppressed: true },
      { values: ['SYR'], count: 7, suppressed: false },
      { values: ['TUR'], count: 9, suppressed: false },
    ]);
    expect(next.basis).toEqual({ '["SYR"]': 7, '["AFG"]': 2, '["TUR"]': 9 });
  });
});

describe('basisOf', () => {
  it('takes a published count as its basis and a suppressed cell at the most it could have been', () => {
    const v = firstVintage([cell('GR-MK', 10), cell('RS-HU', 1)], 3);
    expect(basisOf(v.cells, 3)).toEqual({ '["GR-MK"]': 10, '["RS-HU"]': 2 });
  });
});
