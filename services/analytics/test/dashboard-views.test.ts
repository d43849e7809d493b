import {
  AnalyticsStore,
  dashboardView,
  demographicsView,
  indicatorsView,
  lagView,
  nationalityView,
  receptionView,
  warningsView,
  type StoreItem,
} from '@wbx/analytics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let store: AnalyticsStore;
let n = 0;

/** A verified aggregate of crossings as the ingestor keeps it (cells: values and count; < 5 suppressed). */
function aggregate(
  origin: string,
  period: string,
  dimensions: string[],
  cells: [string[], number][],
  issued = n,
): StoreItem {
  n += 1;
  return {
    kind: 'aggregate',
    provenance: {
      origin,
      eventId: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
      kid: `${origin}#k1`,
      agreementId: `${origin}-FRONTEX-1`,
      issuedAt: new Date(Date.UTC(2025, 0, 1) + issued * 1_000).toISOString(),
      verifiedAt: new Date(Date.UTC(2025, 0, 1) + issued * 1_000).toISOString(),
      inboxSeq: n,
    },
    sourceType: 'crossing.irregular',
    period,
    dimensions,
    minCell: 5,
    cells: cells.map(([values, count]) => ({ values, count: count < 5 ? 0 : count, suppressed: count < 5 })),
    token: 'token',
  };
}

beforeEach(async () => {
  store = await AnalyticsStore.open(':memory:');
});

afterEach(async () => {
  await store.close();
});

describe('dashboard views', () => {
  it('flags a section whose latest week reaches 1.5 × the 4 weeks before and 10 above, counting unreported weeks as 0', async () => {
    const weeks: Record<string, number[]> = {
      'GR-MK': [10, 10, 10, 10, 30], // 30 ≥ 15 and 20 above: flagged
      'MK-RS': [10, 10, 10, 10, 14], // below the ratio
      'BG-MK': [0, 0, 0, 0, 12], // no cells before (0): 12 ≥ 0 and 12 above: flagged
      'XK-MK': [8, 2, 8, 8, 30], // a suppressed week: not compared
    };
    const items = [1, 2, 3, 4, 5].map((w, i) =>
      aggregate(
        'MK',
        `2025-W0${w}`,
        ['routeSegment'],
        Object.entries(weeks)
          .filter(([, counts]) => (counts[i] ?? 0) > 0)
          .map(([segment, counts]) => [[segment], counts[i] ?? 0]),
      ),
    );
    await store.write(items, n);
    const view = await warningsView(store);
    expect(view.series).toBe(4);
    expect(view.flags.map((f) => [f.routeSegment, f.week, f.value, f.baseline])).toEqual([
      ['BG-MK', '2025-W05', 12, 0],
      ['GR-MK', '2025-W05', 30, 10],
    ]);
  });

  it('gives changes, year to date, the band of earlier years, provisional and breaks by month', async () => {
    const items = [
      aggregate('MK', '2023-03', ['direction'], [[['entry'], 40]]),
      aggregate('MK', '2024-02', ['direction'], [[['entry'], 50]]),
      aggregate('MK', '2024-03', ['direction'], [[['entry'], 60]]),
      aggregate('MK', '2025-02', ['direction'], [[['entry'], 80]]),
      aggregate('MK', '2025-03', ['direction'], [[['entry'], 100]]),
      aggregate(
        'RS',
        '2025-03',
        ['direction'],
        [
          [['exit'], 20],
          [['entry'], 3],
        ],
      ),
      // A persons series of the same origin is not added to the detections.
      aggregate(
        'MK',
        '2025-03',
        ['persons.citizenship'],
        [
          [['SYR'], 70],
          [['AFG'], 30],
          [['IRQ'], 2],
        ],
      ),
    ];
    await store.write(items, n);
    const [series, ...others] = await indicatorsView(store);
    expect(others).toHaveLength(0);
    expect(series?.unit).toBe('detections');
    const march = series?.months.find((m) => m.period === '2025-03');
    expect(march?.value).toMatchObject({ known: 120, suppressedCells: 1, cells: 3 });
    expect(march?.provisional).toBe(true);
    expect(march?.break).toBe('RS reporting from this month');
    // With a suppressed cell in it, no change is given (its value is not known).
    expect(march?.changeOnPreviousMonth).toBeNull();
    expect(march?.band).toEqual({ min: 40, max: 60, years: 2 });
    const february = series?.months.find((m) => m.period === '2025-02');
    expect(february?.changeOnSameMonthLastYear).toBeCloseTo(0.6, 10);
    expect(february?.provisional).toBe(false);
    expect(series?.yearToDate).toMatchObject({
      year: '2025',
      through: '2025-03',
      value: { known: 200, suppressedCells: 1 },
      lastYear: { known: 110, suppressedCells: 0 },
      change: null,
    });
  });

  it('gives the top citizenships with shares of the known total and an others row', async () => {
    await store.write(
      [
        aggregate(
          'MK',
          '2025-03',
          ['persons.citizenship'],
          [
            [['SYR'], 60],
            [['AFG'], 30],
            [['IRQ'], 2],
          ],
        ),
        aggregate(
          'RS',
          '2025-03',
          ['persons.citizenship'],
          [
            [['SYR'], 10],
            [['PAK'], 20],
            [['TUR'], 6],
          ],
        ),
      ],
      n,
    );
    const view = await nationalityView(store, { top: 2 });
    expect(view.period).toBe('2025-03');
    expect(view.top.map((r) => [r.citizenship, r.value.known, r.share])).toEqual([
      ['SYR', 70, 70 / 126],
      ['AFG', 30, 30 / 126],
    ]);
    expect(view.others?.citizenship).toBe('others (3)');
    expect(view.others?.value).toMatchObject({ known: 26, suppressedCells: 1, cells: 3 });
    expect(view.total).toMatchObject({ known: 126, suppressedCells: 1 });
  });

  it('gives the demographics of the latest month, unknown as a value of its own', async () => {
    await store.write(
      [
        aggregate('MK', '2025-02', ['persons.ageBand'], [[['18-34'], 99]]),
        aggregate(
          'MK',
          '2025-03',
          ['persons.ageBand'],
          [
            [['18-34'], 40],
            [['unknown'], 7],
            [['65+'], 1],
          ],
        ),
        aggregate(
          'RS',
          '2025-03',
          ['routeSegment', 'persons.ageBand'],
          [
            [['MK-RS', '18-34'], 10],
            [['RS-HU', '18-34'], 5],
            [['RS-HU', 'unknown'], 6],
          ],
        ),
        aggregate(
          'RS',
          '2025-03',
          ['persons.sex'],
          [
            [['M'], 30],
            [['U'], 8],
          ],
        ),
      ],
      n,
    );
    const view = await demographicsView(store);
    expect(view.period).toBe('2025-03');
    expect(view.rows.map((r) => [r.dimension, r.value, r.cell.known, r.cell.suppressedCells])).toEqual([
      ['persons.sex', 'M', 30, 0],
      ['persons.sex', 'U', 8, 0],
      ['persons.ageBand', '18-34', 55, 0],
      ['persons.ageBand', '65+', 0, 1],
      ['persons.ageBand', 'unknown', 13, 0],
    ]);
    expect((await demographicsView(store, { period: '2025-02' })).rows).toHaveLength(1);
  });

  it('finds the lag from upstream entries to downstream exits', async () => {
    const up = [10, 50, 20, 60, 15, 40, 30];
    const items = up.flatMap((count, i) => {
      const period = `2025-0${i + 1}`;
      const before = up[i - 1];
      return [
        aggregate(
          'MK',
          period,
          ['routeSegment', 'direction'],
          [
            [['GR-MK', 'entry'], count],
            // MK's exits to RS follow its entries from GR a month later.
            ...(before === undefined ? [] : [[['MK-RS', 'exit'], before * 2] as [string[], number]]),
          ],
        ),
      ];
    });
    await store.write(items, n);
    const view = await lagView(store, { maxLag: 2 });
    const [row, ...rest] = view.rows;
    expect(rest).toHaveLength(0);
    expect(row).toMatchObject({ upstream: 'GR-MK', downstream: 'MK-RS', bestLag: 1, months: 6 });
    expect(row?.correlations[1]?.r).toBeCloseTo(1, 10);
    expect(row?.correlations[1]?.n).toBe(6);
    expect(Math.abs(row?.correlations[0]?.r ?? 1)).toBeLessThan(0.9);
  });

  it("gives reception stock against capacity from each facility's latest snapshot, with as-of dates", async () => {
    const snapshot = (
      origin: string,
      facilityId: string,
      occurredAt: string,
      capacity: number,
      occupancy: number,
    ): StoreItem => {
      n += 1;
      const p = aggregate(origin, '2025-01', [], []).provenance;
      return {
        kind: 'record',
        provenance: { ...p, inboxSeq: n },
        type: 'reception.capacity',
        claims: {
          occurredAt,
          facilityId,
          facilityType: 'reception-centre',
          capacity,
          occupancy,
          children: Math.floor(occupancy / 4),
          unaccompaniedMinors: 1,
        },
        token: 'token',
      };
    };
    const items = [
      snapshot('MK', 'MK-F1', '2025-03-01T08:00:00Z', 400, 120),
      snapshot('MK', 'MK-F1', '2025-03-10T08:00:00Z', 400, 200),
      snapshot('MK', 'MK-F2', '2025-03-05T08:00:00Z', 100, 40),
      snapshot('RS', 'RS-F1', '2025-03-02T08:00:00Z', 1000, 800),
      snapshot('RS', 'RS-F1', '2025-03-12T08:00:00Z', 1000, 640),
    ];
    await store.write(items, n);
    const latest = await receptionView(store);
    expect(latest.rows.map((r) => [r.origin, r.facilities, r.occupancy.known, r.capacity.known])).toEqual([
      ['MK', 2, 240, 500],
      ['RS', 1, 640, 1000],
    ]);
    expect(latest.rows[0]).toMatchObject({
      oldestAsOf: '2025-03-05T08:00:00Z',
      latestAsOf: '2025-03-10T08:00:00Z',
      children: { known: 50 + 10 },
      unaccompaniedMinors: { known: 2 },
    });
    // Each sum points at the snapshots it adds up.
    expect(latest.rows[1]?.occupancy.sources).toEqual(
      [items[4]?.provenance].map((p) => ({
        origin: p?.origin,
        eventId: p?.eventId,
      })),
    );
    // As of 2025-03-09 (inclusive): MK-F1's snapshot of 1 March, RS-F1's of 2 March.
    const earlier = await receptionView(store, { asOf: '2025-03-09' });
    expect(earlier.rows.map((r) => [r.origin, r.occupancy.known, r.capacity.known, r.latestAsOf])).toEqual([
      ['MK', 160, 500, '2025-03-05T08:00:00Z'],
      ['RS', 800, 1000, '2025-03-02T08:00:00Z'],
    ]);
    // A withdrawn snapshot no longer counts: the facility's one before it does.
    await store.write(
      [
        {
          kind: 'change',
          provenance: { ...(items[4] as StoreItem).provenance, eventId: 'w-1', inboxSeq: n + 1 },
          type: 'record.withdrawal',
          originalEventId: items[4]?.provenance.eventId ?? '',
          token: 'token',
        },
      ],
      n + 1,
    );
    const after = await receptionView(store);
    expect(after.rows.find((r) => r.origin === 'RS')?.occupancy.known).toBe(800);
    expect(await receptionView(store, { asOf: '2025-02-28' })).toMatchObject({ rows: [], facilities: [] });
    await expect(
      dashboardView(store, '/api/v1/dashboard/reception', new URLSearchParams('asOf=2025-02-30')),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('computes a view again once the store took in more, and refuses a bad parameter', async () => {
    await store.write([aggregate('MK', '2025-03', ['direction'], [[['entry'], 40]])], n);
    const path = '/api/v1/dashboard/indicators';
    const first = (await dashboardView(store, path, new URLSearchParams())) as { series: unknown[] };
    expect(await dashboardView(store, path, new URLSearchParams())).toBe(first);
    await store.write([aggregate('MK', '2025-04', ['direction'], [[['entry'], 50]])], n);
    const next = (await dashboardView(store, path, new URLSearchParams())) as {
      series: { months: unknown[] }[];
    };
    expect(next).not.toBe(first);
    expect(next.series[0]?.months).toHaveLength(2);
    await expect(
      dashboardView(store, '/api/v1/dashboard/nationalities', new URLSearchParams('top=0')),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await dashboardView(store, '/api/v1/dashboard/nope', new URLSearchParams())).toBeUndefined();
  });
});
