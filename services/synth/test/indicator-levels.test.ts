import type { Event } from '@wbx/proto';
import { validateEvent } from '@wbx/schema';
import { describe, expect, it } from 'vitest';

import {
  eventToNdjsonLine,
  expectedEventCount,
  generateEvents,
  MONTHLY_SEASONALITY,
  ROUTE_DETECTIONS_BY_YEAR,
} from '../src/index.js';

/**
 * The WB-RAN indicator types (refusals of entry, illegal stay, false documents) and the monthly levels of
 * every partner's events against shared/data/wb-route-figures.md. Tolerances are statistical: a count
 * expected to be n (a multinomial share of the run) varies by about √n, so a bound of 4√n fails a correct
 * generator with probability < 1e-4 per check, yet catches a level that is 20–30 % off at these sizes.
 * The runs are seeded, hence deterministic: a failure is a change of behaviour, never a flake.
 */
const FROM = new Date('2022-01-01T00:00:00.000Z');
const TO = new Date('2024-01-01T00:00:00.000Z');
const INDICATORS = ['entry.refusal', 'stay.illegal', 'document.fraud'] as const;
const COUNT = 30_000;

const monthOf = (e: Event): string => (e.occurredAt ?? '').slice(0, 7);

function run(partner: string, seed = 'levels', count = COUNT): Event[] {
  return [...generateEvents({ partner, count, seed, from: FROM, to: TO })];
}

/** Expected share of each month of [FROM, TO): the year's detections × the month's seasonality × days. */
function expectedMonthShares(): Map<string, number> {
  const weights = new Map<string, number>();
  const mean = MONTHLY_SEASONALITY.reduce((a, b) => a + b, 0) / 12;
  for (let t = FROM.getTime(); t < TO.getTime(); t += 86_400_000) {
    const d = new Date(t);
    const month = d.toISOString().slice(0, 7);
    const w =
      ((ROUTE_DETECTIONS_BY_YEAR[d.getUTCFullYear()] ?? 0) / 365) *
      (MONTHLY_SEASONALITY[d.getUTCMonth()] ?? 0);
    weights.set(month, (weights.get(month) ?? 0) + w / mean);
  }
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  return new Map([...weights].map(([m, w]) => [m, w / total]));
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

describe('generateEvents: the WB-RAN indicators', () => {
  const rs = run('RS');

  it('makes every indicator type, valid, with crossingPoint on every crossing', () => {
    const types = countBy(rs, (e) => e.type);
    for (const t of INDICATORS) expect(types.get(t) ?? 0).toBeGreaterThan(100);
    for (const e of rs.filter((x) => (INDICATORS as readonly string[]).includes(x.type)).slice(0, 2_000)) {
      expect(validateEvent(JSON.parse(eventToNdjsonLine(e)), { now: TO }).ok).toBe(true);
    }
    const crossings = rs.flatMap((e) => (e.crossingIrregular ? [e.crossingIrregular] : []));
    expect(
      crossings.every(
        (c) => c.crossingPoint === (c.detectionMethod === 'checkpoint' ? 'at-bcp' : 'between-bcp'),
      ),
    ).toBe(true);
    expect(crossings.some((c) => c.crossingPoint === 'at-bcp')).toBe(true);
  });

  it('is deterministic: the same seed gives the same indicator events, another seed others', () => {
    const lines = (events: Event[]): string[] =>
      events.filter((e) => e.type === 'entry.refusal').map((e) => eventToNdjsonLine(e));
    const again = run('RS', 'levels', 3_000);
    expect(lines(run('RS', 'levels', 3_000))).toEqual(lines(again));
    expect(lines(run('RS', 'other', 3_000))).not.toEqual(lines(again));
  });

  it('keeps stateless (XXA) and unknown (XXX) citizenships apart', () => {
    const citizenships = countBy(
      rs.flatMap((e) => e.crossingIrregular?.persons ?? []),
      (p) => p.citizenship,
    );
    expect(citizenships.get('XXA') ?? 0).toBeGreaterThan(0);
    expect(citizenships.get('XXX') ?? 0).toBeGreaterThan(citizenships.get('XXA') ?? 0);
    const permits = rs.flatMap((e) =>
      e.residenceHumanitarian?.permitType === 'stateless'
        ? [e.residenceHumanitarian.person?.citizenship]
        : [],
    );
    expect(permits.length).toBeGreaterThan(0);
    expect(new Set(permits)).toEqual(new Set(['XXA']));
  });

  it.each(['RS', 'MK'])(
    "%s's monthly volumes follow the route's yearly figures and seasonality",
    (partner) => {
      const events = partner === 'RS' ? rs : run(partner);
      const observed = countBy(events, monthOf);
      for (const [month, share] of expectedMonthShares()) {
        const expected = share * events.length;
        expect(Math.abs((observed.get(month) ?? 0) - expected)).toBeLessThan(4 * Math.sqrt(expected));
      }
    },
  );

  it('follows the sourced ratios: May 2022 in January–May 2022, and 2023 against 2022', () => {
    const byMonth = countBy(rs, monthOf);
    const janToMay = ['01', '02', '03', '04', '05'].reduce((n, m) => n + (byMonth.get(`2022-${m}`) ?? 0), 0);
    const may = byMonth.get('2022-05') ?? 0;
    // Frontex: 12,088 of 40,675 (29.7 %). The seasonality gives 29.0 %; 4σ of a share at n ≈ 3,900 is
    // 2.9 points, so 3.5 points covers both.
    expect(Math.abs(may / janToMay - 12_088 / 40_675)).toBeLessThan(0.035);
    const byYear = countBy(rs, (e) => monthOf(e).slice(0, 4));
    const ratio = (byYear.get('2023') ?? 0) / (byYear.get('2022') ?? 1);
    // Frontex: 99,068 in 2023 against 145,600 in 2022 (−31 %); 4σ of the ratio at these counts is ~4 %.
    expect(Math.abs(ratio / (99_068 / 145_600) - 1)).toBeLessThan(0.05);
  });

  it('gives the indicator types the same monthly shape, by quarter', () => {
    const indicators = rs.filter((e) => (INDICATORS as readonly string[]).includes(e.type));
    const quarter = (month: string): string =>
      `${month.slice(0, 4)}-Q${Math.ceil(Number(month.slice(5)) / 3)}`;
    const observed = countBy(indicators, (e) => quarter(monthOf(e)));
    const expectedShares = new Map<string, number>();
    for (const [month, share] of expectedMonthShares()) {
      expectedShares.set(quarter(month), (expectedShares.get(quarter(month)) ?? 0) + share);
    }
    for (const [q, share] of expectedShares) {
      const expected = share * indicators.length;
      expect(Math.abs((observed.get(q) ?? 0) - expected)).toBeLessThan(4 * Math.sqrt(expected));
    }
  });

  it("scales each partner's expected volume by the sourced yearly figures", () => {
    for (const partner of ['RS', 'MK', 'BA']) {
      const year = (y: number): number =>
        expectedEventCount(partner, new Date(`${y}-01-01T00:00:00Z`), new Date(`${y + 1}-01-01T00:00:00Z`));
      expect(year(2023) / year(2022)).toBeCloseTo(99_068 / 145_600, 2);
    }
  });

  it('records refusals and illegal stay only for states, false documents for an agency too', () => {
    const types = new Set(run('FRONTEX', 'levels', 3_000).map((e) => e.type));
    expect(types.has('entry.refusal')).toBe(false);
    expect(types.has('stay.illegal')).toBe(false);
    expect(types.has('document.fraud')).toBe(true);
  });
});
