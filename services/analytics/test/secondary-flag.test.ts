import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AnalyticsStore, exportFigures, indicatorsView, type StoreItem } from '@wbx/analytics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseCsv } from './support.js';

const ID = '01900000-0000-7000-8000-000000000031';

/** A vintage as it travels: `secondary: true` on the complement, nothing on the primary suppression. */
const item: StoreItem = {
  kind: 'aggregate',
  provenance: {
    origin: 'RS',
    eventId: ID,
    kid: 'RS#k1',
    agreementId: 'RS-FRONTEX-1',
    issuedAt: '2024-04-02T00:00:00.000Z',
    verifiedAt: '2024-04-02T00:00:01.000Z',
    inboxSeq: 1,
  },
  sourceType: 'crossing.irregular',
  period: '2024-03',
  dimensions: ['routeSegment'],
  minCell: 5,
  cells: [
    { values: ['GR-MK'], count: 0, suppressed: true },
    { values: ['MK-RS'], count: 0, suppressed: true, secondary: true },
    { values: ['RS-HU'], count: 40, suppressed: false },
  ],
  token: 'token',
};

describe('exports of a secondary suppression', () => {
  let dir: string;
  let store: AnalyticsStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wbx-analytics-secondary-'));
    store = await AnalyticsStore.open(join(dir, 'store.duckdb'));
    expect(await store.write([item], 1)).toBe(1);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps secondary: true of the wire as the flag secondary on the figure', async () => {
    const flags = new Map((await store.figures()).map((f) => [f.dimensions.routeSegment, f.flags]));
    expect(flags.get('GR-MK')).toEqual(['suppressed']);
    expect(flags.get('MK-RS')).toEqual(['suppressed', 'secondary']);
    expect(flags.get('RS-HU')).toEqual([]);
  });

  it('writes CONF_STATUS D for a complement, C for a primary suppression and F for a value', async () => {
    const rows = parseCsv(String(await exportFigures(store, 'sdmx-csv')));
    const head = rows[0] ?? [];
    const at = (name: string) => head.indexOf(name);
    expect(
      rows
        .slice(1)
        .map((r) => [r[at('ROUTE_SEGMENT')], r[at('OBS_VALUE')], r[at('CONF_STATUS')]])
        .sort(),
    ).toEqual([
      ['GR-MK', '', 'C'],
      ['MK-RS', '', 'D'],
      ['RS-HU', '40', 'F'],
    ]);
  });

  it('counts the complements of a dashboard value apart (shown "×", not "< k")', async () => {
    const [series] = await indicatorsView(store);
    const march = series?.months.find((m) => m.period === '2024-03');
    expect(march?.value).toMatchObject({ known: 40, suppressedCells: 2, secondaryCells: 1, cells: 3 });
  });

  it('carries the flag in the CSV and JSON exports, with no value for either suppression', async () => {
    const rows = parseCsv(String(await exportFigures(store, 'csv')));
    const head = rows[0] ?? [];
    const csv = rows
      .slice(1)
      .map((r) => [r[head.indexOf('dimensions')], r[head.indexOf('value')], r[head.indexOf('flags')]])
      .sort();
    expect(csv).toEqual([
      ['routeSegment=GR-MK', '', 'suppressed'],
      ['routeSegment=MK-RS', '', 'suppressed;secondary'],
      ['routeSegment=RS-HU', '40', ''],
    ]);
    const json = JSON.parse(String(await exportFigures(store, 'json'))) as {
      figures: { dimensions: { routeSegment: string }; value: number | null; flags: string[] }[];
    };
    const hidden = json.figures.find((f) => f.dimensions.routeSegment === 'MK-RS');
    expect(hidden).toMatchObject({ value: null, flags: ['suppressed', 'secondary'] });
  });
});
