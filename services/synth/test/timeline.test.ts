import { describe, expect, it } from 'vitest';

import { previousPeriod } from '../src/internal/calendar.js';
import { sortedInstants } from '../src/internal/timeline.js';
import { Random } from '../src/random.js';

describe('sortedInstants', () => {
  it('yields count sorted instants inside the window', () => {
    const from = Date.UTC(2023, 0, 1, 7, 30);
    const to = Date.UTC(2023, 0, 3, 2, 0);
    const instants = [...sortedInstants(new Random('t'), 10_000, from, to)];
    expect(instants).toHaveLength(10_000);
    instants.forEach((t, i) => {
      expect(t).toBeGreaterThanOrEqual(i === 0 ? from : (instants[i - 1] ?? 0));
      expect(t).toBeLessThan(to);
    });
  });

  it('follows the route volume: more events in 2022 than in 2024', () => {
    const from = Date.UTC(2022, 0, 1);
    const mid = Date.UTC(2024, 0, 1);
    const to = Date.UTC(2025, 0, 1);
    const instants = [...sortedInstants(new Random('v'), 10_000, from, to)];
    const in2022 = instants.filter((t) => t < Date.UTC(2023, 0, 1)).length;
    const in2024 = instants.filter((t) => t >= mid).length;
    expect(in2022 / in2024).toBeGreaterThan(5); // 145,600 vs ~21,000 detections
  });

  it('handles a one-millisecond window', () => {
    expect([...sortedInstants(new Random('x'), 3, 1_700_000_000_000, 1_700_000_000_001)]).toEqual([
      1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000,
    ]);
  });
});

describe('previousPeriod', () => {
  it('names the last complete month, ISO week or day', () => {
    const at = Date.UTC(2024, 0, 3, 12);
    expect(previousPeriod('month', at)).toBe('2023-12');
    expect(previousPeriod('week', at)).toBe('2023-W52');
    expect(previousPeriod('day', at)).toBe('2024-01-02');
    expect(previousPeriod('week', Date.UTC(2021, 0, 6))).toBe('2020-W53');
    expect(previousPeriod('week', Date.UTC(2026, 0, 1))).toBe('2025-W52');
  });

  it('falls back to the day itself before 2015', () => {
    expect(previousPeriod('month', Date.UTC(2015, 0, 20))).toBe('2015-01-20');
    expect(previousPeriod('week', Date.UTC(2015, 0, 6))).toBe('2015-01-06');
    expect(previousPeriod('day', Date.UTC(2015, 0, 1, 5))).toBe('2015-01-01');
  });
});
