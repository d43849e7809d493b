import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { parsePeriodStart, StatsAggregateSchema } from '@wbx/schema';

import {
  aggregate,
  MISSING_VALUE,
  parseAgreementBody,
  periodBounds,
  periodOf,
  type AggregateTerm,
  type PolicyEvent,
} from '../src/index.js';
import { agreementError, body, policyEvent, syntheticEvents } from './fixtures.js';

function term(overrides: Record<string, unknown>): AggregateTerm {
  const t = parseAgreementBody(
    body({
      terms: [
        {
          types: ['crossing.irregular'],
          mode: 'aggregate',
          period: 'month',
          retentionDays: 30,
          ...overrides,
        },
      ],
    }),
  ).terms[0];
  if (t?.mode !== 'aggregate') throw new Error('not an aggregate term');
  return t;
}

const person = (citizenship: string, sex = 'M'): Record<string, unknown> => ({
  citizenship,
  sex,
  ageBand: '18-34',
  unaccompaniedMinor: false,
});

const crossing = (day: number, routeSegment: string, persons: Record<string, unknown>[]): PolicyEvent => ({
  type: 'crossing.irregular',
  origin: 'MK',
  claims: { occurredAt: `2025-06-${String(day).padStart(2, '0')}T10:00:00Z`, routeSegment, persons },
});

describe('periodOf', () => {
  it('names days, ISO weeks and months as StatsAggregate expects', () => {
    expect(periodOf(new Date('2025-06-15T23:59:59Z'), 'day')).toBe('2025-06-15');
    expect(periodOf(new Date('2025-06-15T23:59:59Z'), 'month')).toBe('2025-06');
    expect(periodOf(new Date('2025-06-15T12:00:00Z'), 'week')).toBe('2025-W24');
    expect(periodOf(new Date('2021-01-03T12:00:00Z'), 'week')).toBe('2020-W53');
    expect(periodOf(new Date('2024-12-30T00:00:00Z'), 'week')).toBe('2025-W01');
  });

  it('gives a period whose start parses back to the start of its bounds (property)', () => {
    const date = fc.date({
      min: new Date('2015-01-01T00:00:00Z'),
      max: new Date('2040-12-31T23:59:59Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(date, fc.constantFrom('day' as const, 'week' as const, 'month' as const), (d, kind) => {
        const { period, start, end } = periodBounds(d, kind);
        expect(parsePeriodStart(period)).toBe(start.getTime());
        expect(start.getTime()).toBeLessThanOrEqual(d.getTime());
        expect(d.getTime()).toBeLessThan(end.getTime());
      }),
      { numRuns: 500 },
    );
  });
});

describe('aggregate', () => {
  it('counts persons for person dimensions and suppresses cells below minCell', () => {
    const t = term({ dimensions: ['routeSegment', 'persons.citizenship'], minCell: 3 });
    const events = [
      crossing(1, 'GR-MK', [person('SYR'), person('SYR'), person('AFG')]),
      crossing(2, 'GR-MK', [person('SYR')]),
      crossing(3, 'RS-MK', [person('AFG'), person('AFG'), person('AFG'), person('MAR')]),
      crossing(4, 'GR-MK', []),
    ];
    const out = aggregate(t, 'crossing.irregular', events, new Date('2025-06-10T00:00:00Z'));
    expect(out).toEqual({
      period: '2025-06',
      sourceType: 'crossing.irregular',
      dimensions: ['routeSegment', 'persons.citizenship'],
      minCell: 3,
      cells: [
        { values: ['GR-MK', 'AFG'], count: 0, suppressed: true },
        { values: ['GR-MK', 'SYR'], count: 3, suppressed: false },
        { values: ['RS-MK', 'AFG'], count: 3, suppressed: false },
        { values: ['RS-MK', 'MAR'], count: 0, suppressed: true },
      ],
    });
    expect(StatsAggregateSchema.safeParse(out).success).toBe(true);
  });

  it('counts events when no dimension is a person attribute; only the period and the where-conditions', () => {
    const t = term({ dimensions: ['routeSegment'], where: { routeSegment: ['GR-MK', 'RS-MK'] } });
    const events = [
      ...Array.from({ length: 6 }, (_, i) => crossing(i + 1, 'GR-MK', [person('SYR'), person('SYR')])),
      crossing(7, 'AL-MK', [person('SYR')]),
      { ...crossing(8, 'GR-MK', []), claims: { occurredAt: '2025-07-01T00:00:00Z', routeSegment: 'GR-MK' } },
      { ...crossing(9, 'GR-MK', []), type: 'smuggling.incident' },
    ];
    const out = aggregate(t, 'crossing.irregular', events, new Date('2025-06-01T00:00:00Z'));
    expect(out.cells).toEqual([{ values: ['GR-MK'], count: 6, suppressed: false }]);
  });

  it('shows a missing optional value as unknown and flags as true/false', () => {
    const t = term({
      types: ['smuggling.incident'],
      dimensions: ['vehicleType', 'modusOperandi'],
      minCell: 3,
    });
    const incident = (vehicleType?: string): PolicyEvent => ({
      type: 'smuggling.incident',
      origin: 'MK',
      claims: {
        occurredAt: '2025-06-02T00:00:00Z',
        modusOperandi: 'concealment',
        ...(vehicleType ? { vehicleType } : {}),
      },
    });
    const out = aggregate(
      t,
      'smuggling.incident',
      [incident(), incident(), incident(), incident('van')],
      new Date('2025-06-02T00:00:00Z'),
    );
    expect(out.cells).toEqual([
      { values: [MISSING_VALUE, 'concealment'], count: 3, suppressed: false },
      { values: ['van', 'concealment'], count: 0, suppressed: true },
    ]);
  });

  it('refuses a source type that is not one of the term’s (INVALID_ARGUMENT)', () => {
    const t = term({ dimensions: ['routeSegment'] });
    expect(agreementError(() => aggregate(t, 'asylum.application', [], new Date())).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('suppresses exactly the cells below minCell, counts the rest right, and validates (property)', () => {
    const FROM = new Date('2025-03-01T00:00:00Z');
    const TO = new Date('2025-05-01T00:00:00Z');
    const caseArb = fc.record({
      seed: fc.string({ minLength: 1, maxLength: 10 }),
      n: fc.integer({ min: 0, max: 400 }),
      minCell: fc.integer({ min: 3, max: 12 }),
      dimensions: fc.constantFrom(
        ['persons.citizenship'],
        ['routeSegment', 'persons.sex'],
        ['direction', 'persons.ageBand', 'persons.unaccompaniedMinor'],
        ['routeSegment', 'detectionMethod'],
      ),
    });
    fc.assert(
      fc.property(caseArb, ({ seed, n, minCell, dimensions }) => {
        const t = term({ dimensions, minCell, period: 'month' });
        const events = syntheticEvents('MK', n, seed, FROM, TO).map(policyEvent);
        const out = aggregate(t, 'crossing.irregular', events, new Date('2025-04-01T00:00:00Z'));
        expect(StatsAggregateSchema.safeParse(out).success).toBe(true);
        expect(out.period).toBe('2025-04');

        // An independent count of the same thing.
        const expected = new Map<string, number>();
        for (const e of events) {
          const at = e.claims.occurredAt as string;
          if (e.type !== 'crossing.irregular' || !at.startsWith('2025-04')) continue;
          const byPerson = dimensions.some((d) => d.startsWith('persons.'));
          const units = byPerson ? (e.claims.persons as Record<string, unknown>[]) : [undefined];
          for (const p of units) {
            const key = dimensions
              .map((d) => String(d.startsWith('persons.') ? p?.[d.slice(8)] : e.claims[d]))
              .join('|');
            expected.set(key, (expected.get(key) ?? 0) + 1);
          }
        }
        expect(out.cells).toHaveLength(expected.size);
        for (const cell of out.cells) {
          const count = expected.get(cell.values.join('|'));
          expect(count).toBeDefined();
          if (count! < minCell) expect(cell).toEqual({ values: cell.values, count: 0, suppressed: true });
          else expect(cell).toEqual({ values: cell.values, count, suppressed: false });
        }
      }),
      { numRuns: 60 },
    );
  });
});
