import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AnalyticsApi, AnalyticsStore, figuresCsv, type StoreItem } from '@wbx/analytics';
import { wbx } from '@wbx/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ISSUED = '2024-04-02T00:00:00.000Z';
const provenance = (eventId: string, inboxSeq: number) => ({
  origin: 'MK',
  eventId,
  kid: 'MK#k1',
  agreementId: 'MK-FRONTEX-1',
  issuedAt: ISSUED,
  verifiedAt: ISSUED,
  inboxSeq,
});
const ITEMS: StoreItem[] = [
  {
    kind: 'aggregate',
    provenance: provenance('01900000-0000-7000-8000-000000000001', 1),
    sourceType: 'crossing.irregular',
    period: '2024-03',
    dimensions: ['routeSegment', 'persons.ageBand'],
    minCell: 5,
    cells: [
      { values: ['GR-MK', '18-34'], count: 40, suppressed: false },
      { values: ['GR-MK', '0-13'], count: 0, suppressed: true },
    ],
    token: 'aggregate-token',
  },
  {
    kind: 'record',
    provenance: provenance('01900000-0000-7000-8000-000000000002', 2),
    type: 'smuggling.incident',
    claims: { occurredAt: '2024-03-04T10:00:00Z', routeSegment: 'MK-RS', migrantsCount: 12 },
    token: 'record-token',
  },
];

let dir: string;
let db: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-analytics-cli-'));
  db = join(dir, 'analytics.duckdb');
  const store = await AnalyticsStore.open(db);
  await store.write(ITEMS, 2);
  await store.close();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wbx analytics', () => {
  it('refuses to serve beyond loopback without a bearer token', async () => {
    const r = await wbx([
      'analytics',
      'serve',
      '--nats',
      'nats://127.0.0.1:4222',
      '--manifest',
      join(dir, 'none.json'),
      '--partner',
      'FRONTEX',
      '--agreements',
      dir,
      '--db',
      db,
      '--listen',
      '0.0.0.0:0',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^wbx: USAGE: .*bearer token/);
  });

  it('exports from the store file: long CSV, SDMX-CSV 1.0, Parquet and MISP', async () => {
    const csv = await wbx(['analytics', 'export', '--db', db, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^period,origin,indicator,dimensions,value,unit,flags,/);
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 7))).toEqual([
      [
        '2024-03',
        'MK',
        'crossing.irregular',
        'routeSegment=GR-MK;persons.ageBand=0-13',
        '',
        'persons',
        'suppressed',
      ],
      [
        '2024-03',
        'MK',
        'crossing.irregular',
        'routeSegment=GR-MK;persons.ageBand=18-34',
        '40',
        'persons',
        '',
      ],
    ]);

    const sdmx = await wbx([
      'analytics',
      'export',
      '--db',
      db,
      '--format',
      'sdmx-csv',
      '--sdmx-version',
      '1.0',
    ]);
    const [head, ...rows] = sdmx.stdout.trimEnd().split('\r\n');
    expect(head).toBe(
      'DATAFLOW,FREQ,REF_AREA,INDICATOR,AGE,ROUTE_SEGMENT,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,OBS_STATUS,CONF_STATUS',
    );
    expect(rows).toEqual([
      'WBX:DF_WBX_MIGR(1.0),M,MK,crossing.irregular,Y_LT14,GR-MK,2024-03,,PER,,C',
      'WBX:DF_WBX_MIGR(1.0),M,MK,crossing.irregular,Y18-34,GR-MK,2024-03,40,PER,A,F',
    ]);

    const out = join(dir, 'figures.parquet');
    expect((await wbx(['analytics', 'export', '--db', db, '--format', 'parquet', '--out', out])).code).toBe(
      0,
    );
    const bytes = await readFile(out);
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    expect(bytes.subarray(-4).toString()).toBe('PAR1');

    const misp = await wbx(['analytics', 'export', '--db', db, '--format', 'misp']);
    const events = (
      JSON.parse(misp.stdout) as { response: { Event: { uuid: string; Tag: { name: string }[] } }[] }
    ).response;
    expect(events.map((e) => e.Event.uuid)).toEqual(['01900000-0000-7000-8000-000000000002']);
    expect(events[0]?.Event.Tag.map((t) => t.name)).toEqual(
      expect.arrayContaining(['tlp:amber', 'admiralty-scale:information-credibility="2"']),
    );

    const bad = await wbx(['analytics', 'export', '--db', db, '--format', 'xlsx']);
    expect(bad.code).toBe(2);
  });

  it("exports from a running node's stable URL with its bearer token", async () => {
    const store = await AnalyticsStore.open(join(dir, 'copy.duckdb'));
    await store.write(ITEMS, 2);
    const api = await AnalyticsApi.start({ store, token: 'analyst-token' });
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'analyst-token\n');
    try {
      const ok = await wbx([
        'analytics',
        'export',
        '--url',
        api.url,
        '--token-file',
        tokenFile,
        '--format',
        'csv',
      ]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toBe(figuresCsv(await store.figures()));
      const denied = await wbx(['analytics', 'export', '--url', api.url, '--format', 'csv']);
      expect(denied.code).toBe(2);
      expect(denied.stderr).toContain('401');
    } finally {
      await api.close();
      await store.close();
    }
  });
});
