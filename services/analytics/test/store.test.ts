import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  AnalyticsError,
  AnalyticsStore,
  figuresSdmxCsv,
  totalOf,
  type Provenance,
  type StoreItem,
} from '@wbx/analytics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseCsv } from './support.js';

const provenance = (eventId: string, issuedAt: string, inboxSeq: number): Provenance => ({
  origin: 'MK',
  eventId,
  kid: 'MK#k1',
  agreementId: 'MK-FRONTEX-1',
  issuedAt,
  verifiedAt: issuedAt,
  inboxSeq,
});

type AggregateItem = Extract<StoreItem, { kind: 'aggregate' }>;

const aggregateItem = (eventId: string, issuedAt: string, seq: number, count: number): AggregateItem => ({
  kind: 'aggregate',
  provenance: provenance(eventId, issuedAt, seq),
  sourceType: 'crossing.irregular',
  period: '2024-03',
  dimensions: ['routeSegment'],
  minCell: 5,
  cells: [
    { values: ['GR-MK'], count, suppressed: false },
    { values: ['MK-RS'], count: 0, suppressed: true },
    { values: ['RS-HU'], count: 0, suppressed: true, flags: ['secondary'] },
  ],
  token: 'token',
});

const ID1 = '01900000-0000-7000-8000-000000000001';
const ID2 = '01900000-0000-7000-8000-000000000002';

describe('AnalyticsStore', () => {
  let dir: string;
  let store: AnalyticsStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wbx-analytics-store-'));
    store = await AnalyticsStore.open(join(dir, 'store.duckdb'));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ignores a redelivered aggregate and never moves its position back', async () => {
    expect(await store.write([aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 7, 12)], 7)).toBe(1);
    expect(await store.write([aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 7, 12)], 3)).toBe(0);
    expect(await store.position()).toBe(7);
    const figures = await store.figures();
    expect(figures).toHaveLength(3);
  });

  it('stores each item of a batch once, with a duplicate inside it and when the batch is repeated', async () => {
    const record = (eventId: string, issuedAt: string, seq: number, token: string): StoreItem => ({
      kind: 'record',
      provenance: provenance(eventId, issuedAt, seq),
      type: 'readmission.request',
      claims: { occurredAt: '2024-03-01', token },
      token,
    });
    const batch: StoreItem[] = [
      aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 1, 12),
      record(ID2, '2024-04-02T00:00:00.000Z', 2, 'r1'),
      aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 3, 99),
      record(ID2, '2024-04-02T00:00:00.000Z', 4, 'r1'),
      {
        kind: 'change',
        provenance: provenance('01900000-0000-7000-8000-000000000003', '2024-04-03T00:00:00.000Z', 5),
        type: 'record.withdrawal',
        originalEventId: ID2,
        token: 'w1',
      },
      record(ID2, '2024-04-04T00:00:00.000Z', 6, 'r2'),
    ];
    expect(await store.write(batch, 6)).toBe(4);
    expect(await store.write(batch, 6)).toBe(0);
    expect(await store.position()).toBe(6);
    const figures = await store.figures();
    expect(figures.map((f) => [f.value, f.provenance.inboxSeq])).toEqual([
      [12, 1],
      [null, 1],
      [null, 1],
    ]);
    expect(figures.map((f) => f.flags)).toEqual([[], ['suppressed'], ['suppressed', 'secondary']]);
    const records = await store.records({ withdrawn: true });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      claims: { token: 'r2' },
      provenance: { eventId: ID2, inboxSeq: 6, issuedAt: '2024-04-04T00:00:00.000Z' },
      changedBy: '01900000-0000-7000-8000-000000000003',
      withdrawn: true,
    });
    expect(await store.provenance('MK', ID1)).toMatchObject({ inboxSeq: 1, token: 'token' });
  });

  it('keeps each revision as a vintage and answers as of a time', async () => {
    await store.write([aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 1, 12)], 1);
    await store.write([aggregateItem(ID2, '2024-04-09T00:00:00.000Z', 2, 20)], 2);
    const cell = {
      origin: 'MK',
      agreementId: 'MK-FRONTEX-1',
      indicator: 'crossing.irregular',
      period: '2024-03',
      dimensions: { routeSegment: 'GR-MK' },
    };
    expect((await store.valueAsOf(cell, new Date('2024-04-01T00:00:00Z')))?.value).toBeUndefined();
    expect((await store.valueAsOf(cell, new Date('2024-04-05T00:00:00Z')))?.value).toBe(12);
    expect((await store.valueAsOf(cell, new Date('2024-04-10T00:00:00Z')))?.value).toBe(20);
    expect((await store.vintages(cell)).map((f) => f.value)).toEqual([12, 20]);
    const hidden = await store.valueAsOf({ ...cell, dimensions: { routeSegment: 'MK-RS' } }, new Date());
    expect(hidden).toMatchObject({ value: null, suppressed: true, flags: ['suppressed'] });
  });

  it('marks primary suppression C and secondary D in SDMX-CSV, with either header convention', async () => {
    await store.write([aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 1, 12)], 1);
    const figures = await store.figures();
    const v2 = parseCsv(figuresSdmxCsv(figures));
    const head = v2[0] ?? [];
    const conf = v2
      .slice(1)
      .map((r) => [
        r[head.indexOf('ROUTE_SEGMENT')],
        r[head.indexOf('OBS_VALUE')],
        r[head.indexOf('CONF_STATUS')],
      ]);
    expect(conf).toEqual([
      ['GR-MK', '12', 'F'],
      ['MK-RS', '', 'C'],
      ['RS-HU', '', 'D'],
    ]);
    const v1 = parseCsv(figuresSdmxCsv(figures, { version: '1.0' }));
    expect(v1[0]?.[0]).toBe('DATAFLOW');
    expect(v1[1]?.[0]).toBe('WBX:DF_WBX_MIGR(1.0)');
  });

  it('refuses to add figures of different units with UNIT_MISMATCH', async () => {
    await store.write([aggregateItem(ID1, '2024-04-02T00:00:00.000Z', 1, 12)], 1);
    const persons: AggregateItem = {
      ...aggregateItem(ID2, '2024-04-02T00:00:00.000Z', 2, 9),
      dimensions: ['persons.citizenship'],
    };
    await store.write([persons], 2);
    const figures = await store.figures();
    expect(() => totalOf(figures)).toThrow(AnalyticsError);
    try {
      totalOf(figures);
    } catch (e) {
      expect((e as AnalyticsError).code).toBe('UNIT_MISMATCH');
    }
    expect(totalOf(figures.filter((f) => f.unit === 'detections'))).toEqual({
      unit: 'detections',
      known: 12,
      suppressedCells: 2,
      lower: 12,
      upper: null,
    });
    const shown = figures.filter((f) => f.unit === 'detections' && !f.suppressed);
    expect(totalOf(shown)).toMatchObject({ known: 12, suppressedCells: 0, lower: 12, upper: 12 });
  });
});
