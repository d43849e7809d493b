import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { NatsConnection } from '@nats-io/transport-node';
import {
  aggregate,
  firstVintage,
  reviseVintage,
  type ActiveAgreement,
  type AggregateCell,
  type AggregateTerm,
} from '@wbx/agreements';
import {
  AnalyticsApi,
  AnalyticsError,
  AnalyticsStore,
  cellKey,
  exportFigures,
  figuresCsv,
  InboxIngestor,
  smugglingMispEvents,
  totalOf,
  writeParquet,
  type Figure,
} from '@wbx/analytics';
import { inboxMsgId, INBOX_STREAM, loadAgreements, type Gateway } from '@wbx/gateway';
import { uuidV7, validateEvent, type ValidEvent } from '@wbx/schema';
import { startFederation, type Federation } from '@wbx/fixtures';
import { verifyRootManifest, type ManifestBody } from '@wbx/registry';
import { until } from '@wbx/test-helpers';
import { parquetReadObjects } from 'hyparquet';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectToGateway, events, parseCsv, policyEvent, submitAll } from './support.js';

const AGREEMENT = 'MK-FRONTEX-1';
const BY_CITIZENSHIP: AggregateTerm = {
  types: ['crossing.irregular'],
  mode: 'aggregate',
  dimensions: ['routeSegment', 'persons.citizenship'],
  period: 'month',
  minCell: 5,
  retentionDays: 30,
};
const BY_ROUTE: AggregateTerm = { ...BY_CITIZENSHIP, dimensions: ['routeSegment'] };
const INCIDENT_FIELDS = ['occurredAt', 'routeSegment', 'migrantsCount', 'facilitatorsApprehended'];
const PERIOD_START = new Date('2023-09-01T00:00:00Z');

let fed: Federation;
let mk: Gateway;
let frontex: Gateway;
let manifest: ManifestBody;
let agreements: ActiveAgreement[];
let dir: string;
let storeFile: string;
const batch1 = events('MK', 300, 'analytics-1', '2023-09-01', '2023-09-15');
const batch2 = events('MK', 300, 'analytics-2', '2023-09-15', '2023-09-29');

/** True counts per cell of the crossings of `list` under `term` (nothing suppressed). */
function counted(term: AggregateTerm, list: typeof batch1): { values: string[]; count: number }[] {
  const body = aggregate({ ...term, minCell: 1 }, 'crossing.irregular', list.map(policyEvent), PERIOD_START);
  return body.cells.map((c) => ({ values: [...c.values], count: c.count }));
}

/** What the store shows per cell (by its key), to compare with published cells. */
function shown(figures: readonly Figure[]): Map<string, { value: number | null; suppressed: boolean }> {
  return new Map(figures.map((f) => [cellKey(f.dimensions), { value: f.value, suppressed: f.suppressed }]));
}

function expected(
  term: AggregateTerm,
  cells: readonly AggregateCell[],
): Map<string, { value: number | null; suppressed: boolean }> {
  return new Map(
    cells.map((c) => [
      cellKey(Object.fromEntries(term.dimensions.map((d, i) => [d, c.values[i] ?? '']))),
      { value: c.suppressed ? null : c.count, suppressed: c.suppressed },
    ]),
  );
}

const ofSeries = (figures: readonly Figure[], term: AggregateTerm): Figure[] =>
  figures.filter((f) => Object.keys(f.dimensions).length === term.dimensions.length);

function ingestor(store: AnalyticsStore, nc: NatsConnection): InboxIngestor {
  return new InboxIngestor({
    nc,
    store,
    stream: INBOX_STREAM,
    msgId: inboxMsgId,
    partner: 'FRONTEX',
    manifest: () => manifest,
    agreements: () => agreements,
  });
}

/** Waits until the store's latest figures of both series differ from `before` (a new vintage each). */
async function vintagesAfter(store: AnalyticsStore, count: number): Promise<void> {
  await until(
    `${count} vintage(s) of both series`,
    async () => {
      const cells = await store.figures();
      const series = [BY_CITIZENSHIP, BY_ROUTE].map((t) => ofSeries(cells, t));
      if (series.some((s) => s.length === 0)) return false;
      for (const s of series) {
        const [first] = s;
        if (first === undefined || (await store.vintages(first)).length < count) return false;
      }
      return true;
    },
    60_000,
    200,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-analytics-'));
  storeFile = join(dir, 'analytics.duckdb');
  fed = await startFederation(['MK', 'FRONTEX']);
  const validFrom = new Date(Date.now() - 3_600_000).toISOString();
  const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
  await fed.agree({
    id: AGREEMENT,
    provider: 'MK',
    recipient: 'FRONTEX',
    purposes: ['risk-analysis', 'anti-smuggling'],
    legalBasis: 'Test agreement',
    validFrom,
    validUntil,
    terms: [
      BY_CITIZENSHIP,
      BY_ROUTE,
      { types: ['smuggling.incident'], mode: 'records', fields: INCIDENT_FIELDS, retentionDays: 30 },
    ],
  });
  manifest = verifyRootManifest(JSON.parse(await readFile(fed.identity.manifestFile, 'utf8')) as never);
  agreements = await loadAgreements(
    fed.agreementsDir('FRONTEX'),
    manifest,
    'FRONTEX',
    new Date(),
    pino({ level: 'silent' }),
  );
  // A long settle: a vintage is published only once a batch has been counted whole.
  const settings = { 'share.aggregateSettle': 5_000 };
  mk = await fed.start('MK', { settings });
  frontex = await fed.start('FRONTEX', { receiveFrom: [mk] });
}, 60_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('the analytics store fed from FRONTEX inbox (MK provides aggregates and incidents)', () => {
  let firstSeen: Date;
  let firstByCitizenship: ReturnType<typeof firstVintage>;
  let firstByRoute: ReturnType<typeof firstVintage>;
  let positionAfterFirst: number;
  let storedFirst: number;

  it('keeps the first vintage equal to the figures computed from the generated events', async () => {
    await submitAll(mk, batch1);
    const store = await AnalyticsStore.open(storeFile);
    const nc = await connectToGateway(frontex);
    const reader = ingestor(store, nc);
    try {
      await reader.start();
      await vintagesAfter(store, 1);
      const incidents = batch1.filter((e) => e.type === 'smuggling.incident').length;
      await until('incidents', async () => (await store.records()).length >= incidents, 60_000, 200);
      firstSeen = new Date();
      const figures = await store.figures({ indicator: 'crossing.irregular' });
      firstByCitizenship = firstVintage(counted(BY_CITIZENSHIP, batch1), 5);
      firstByRoute = firstVintage(counted(BY_ROUTE, batch1), 5);
      expect(shown(ofSeries(figures, BY_CITIZENSHIP))).toEqual(
        expected(BY_CITIZENSHIP, firstByCitizenship.cells),
      );
      expect(shown(ofSeries(figures, BY_ROUTE))).toEqual(expected(BY_ROUTE, firstByRoute.cells));
      for (const f of figures) {
        expect(f.provenance).toMatchObject({
          origin: 'MK',
          agreementId: AGREEMENT,
        });
        expect(f.provenance.kid).toMatch(/^MK#/);
        expect(f.unit).toBe(Object.keys(f.dimensions).length === 2 ? 'persons' : 'detections');
        expect(f.period).toBe('2023-09');
      }
      expect(reader.stats.refused).toBe(0);
      expect((await store.records()).map((r) => r.provenance.eventId).sort()).toEqual(
        batch1
          .filter((e) => e.type === 'smuggling.incident')
          .map((e) => e.eventId)
          .sort(),
      );
    } finally {
      await reader.stop();
      positionAfterFirst = reader.stats.position;
      storedFirst = reader.stats.stored;
      await nc.close();
      await store.close();
    }
  }, 120_000);

  it('continues after a restart where it stopped, keeps the revised vintage, and answers as of a time', async () => {
    await submitAll(mk, batch2);
    const store = await AnalyticsStore.open(storeFile);
    expect(await store.position()).toBe(positionAfterFirst);
    const nc = await connectToGateway(frontex);
    const reader = ingestor(store, nc);
    try {
      await reader.start();
      await vintagesAfter(store, 2);
      const all = [...batch1, ...batch2];
      const incidents = all.filter((e) => e.type === 'smuggling.incident').length;
      await until('incidents', async () => (await store.records()).length >= incidents, 60_000, 200);
      // Nothing read twice: what the restarted reader took in is new, and the store holds each once.
      expect(reader.stats.duplicates).toBe(0);
      const inbox = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
      const messages = (await inbox.streams.info(INBOX_STREAM)).state.messages;
      expect(storedFirst + reader.stats.stored).toBe(messages);
      expect((await store.records()).length).toBe(incidents);

      const revisedByCitizenship = reviseVintage(firstByCitizenship, counted(BY_CITIZENSHIP, all), 5);
      const revisedByRoute = reviseVintage(firstByRoute, counted(BY_ROUTE, all), 5);
      const latest = await store.figures({ indicator: 'crossing.irregular' });
      expect(shown(ofSeries(latest, BY_CITIZENSHIP))).toEqual(
        expected(BY_CITIZENSHIP, revisedByCitizenship.cells),
      );
      expect(shown(ofSeries(latest, BY_ROUTE))).toEqual(expected(BY_ROUTE, revisedByRoute.cells));
      // As of the moment the first vintage was in, the store shows the first vintage.
      const asOf = await store.figures({ indicator: 'crossing.irregular', asOf: firstSeen });
      expect(shown(ofSeries(asOf, BY_ROUTE))).toEqual(expected(BY_ROUTE, firstByRoute.cells));
      const changed = ofSeries(latest, BY_ROUTE).find(
        (f) => f.value !== expected(BY_ROUTE, firstByRoute.cells).get(cellKey(f.dimensions))?.value,
      );
      expect(changed).toBeDefined();
      if (changed === undefined) return;
      const before = await store.valueAsOf(changed, firstSeen);
      expect(before?.value).toBe(
        expected(BY_ROUTE, firstByRoute.cells).get(cellKey(changed.dimensions))?.value,
      );
      expect((await store.valueAsOf(changed, new Date()))?.value).toBe(changed.value);
      const vintages = await store.vintages(changed);
      expect(vintages).toHaveLength(2);
      expect(vintages[0]?.provenance.eventId).not.toBe(vintages[1]?.provenance.eventId);
    } finally {
      await reader.stop();
      await nc.close();
      await store.close();
    }
  }, 120_000);

  it('keeps suppressed cells suppressed (no value, never 0) in the store and every export', async () => {
    const store = await AnalyticsStore.open(storeFile);
    try {
      const figures = await store.figures();
      const suppressed = figures.filter((f) => f.suppressed);
      expect(suppressed.length).toBeGreaterThan(0);
      for (const f of suppressed) {
        expect(f.value).toBeNull();
        expect(f.flags).toContain('suppressed');
      }
      const csv = parseCsv(figuresCsv(figures));
      const header = csv[0] ?? [];
      expect(header.slice(0, 7)).toEqual([
        'period',
        'origin',
        'indicator',
        'dimensions',
        'value',
        'unit',
        'flags',
      ]);
      const rows = csv.slice(1);
      expect(rows).toHaveLength(figures.length);
      rows.forEach((row, i) => {
        const f = figures[i];
        expect(row[4]).toBe(f?.suppressed ? '' : String(f?.value));
        expect(row[5]).toBe(f?.unit);
        expect(row[6]?.split(';').includes('suppressed')).toBe(f?.suppressed);
      });

      const sdmx = parseCsv(String(await exportFigures(store, 'sdmx-csv')));
      const head = sdmx[0] ?? [];
      expect(head.slice(0, 3)).toEqual(['STRUCTURE', 'STRUCTURE_ID', 'ACTION']);
      expect(head).toEqual(
        expect.arrayContaining(['FREQ', 'REF_AREA', 'INDICATOR', 'ROUTE_SEGMENT', 'CITIZEN']),
      );
      expect(head).toEqual(expect.arrayContaining(['TIME_PERIOD', 'OBS_VALUE', 'OBS_STATUS', 'CONF_STATUS']));
      const col = (name: string): number => head.indexOf(name);
      const obs = sdmx.slice(1);
      expect(obs).toHaveLength(figures.length);
      for (const row of obs) {
        expect(row[col('STRUCTURE_ID')]).toBe('WBX:DF_WBX_MIGR(1.0.0)');
        expect(row[col('FREQ')]).toBe('M');
        const conf = row[col('CONF_STATUS')];
        expect(['F', 'C']).toContain(conf);
        if (conf === 'C') expect(row[col('OBS_VALUE')]).toBe('');
        else expect(Number(row[col('OBS_VALUE')])).toBeGreaterThanOrEqual(5);
      }
      expect(obs.filter((r) => r[col('CONF_STATUS')] === 'C')).toHaveLength(suppressed.length);

      const file = join(dir, 'figures.parquet');
      await writeParquet(store, file);
      const bytes = await readFile(file);
      const read = await parquetReadObjects({
        file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      });
      expect(read).toHaveLength(figures.length);
      read.forEach((row, i) => {
        const f = figures[i];
        expect(row.value === null ? null : Number(row.value)).toBe(f?.value);
        expect(row.unit).toBe(f?.unit);
        expect(row.event_id).toBe(f?.provenance.eventId);
        expect(JSON.parse(String(row.dimensions))).toEqual(f?.dimensions);
        expect(row.flags).toEqual(f?.flags);
      });
    } finally {
      await store.close();
    }
  });

  it('never adds persons to detections (UNIT_MISMATCH), and bounds a total over suppressed cells', async () => {
    const store = await AnalyticsStore.open(storeFile);
    try {
      const figures = await store.figures({ indicator: 'crossing.irregular' });
      let error: unknown;
      try {
        totalOf(figures);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AnalyticsError);
      expect((error as AnalyticsError).code).toBe('UNIT_MISMATCH');
      const persons = ofSeries(figures, BY_CITIZENSHIP);
      const total = totalOf(persons);
      const known = persons.reduce((n, f) => n + (f.value ?? 0), 0);
      const hidden = persons.filter((f) => f.suppressed).length;
      expect(total).toEqual({
        unit: 'persons',
        known,
        suppressedCells: hidden,
        lower: known,
        upper: hidden > 0 ? null : known,
      });
    } finally {
      await store.close();
    }
  });

  it('serves the API and the exports on loopback, and needs a bearer token anywhere else', async () => {
    const store = await AnalyticsStore.open(storeFile);
    let refused: unknown;
    try {
      await AnalyticsApi.start({ store, host: '0.0.0.0' });
    } catch (e) {
      refused = e;
    }
    expect((refused as AnalyticsError).code).toBe('TOKEN_REQUIRED');
    const open = await AnalyticsApi.start({ store });
    const guarded = await AnalyticsApi.start({ store, host: '0.0.0.0', token: 'secret-token' });
    const guardedLocal = guarded.url.replace('0.0.0.0', '127.0.0.1');
    try {
      const csv = await fetch(`${open.url}/api/v1/export.csv`);
      expect(csv.status).toBe(200);
      expect(await csv.text()).toBe(figuresCsv(await store.figures()));
      const total = await fetch(`${open.url}/api/v1/total?indicator=crossing.irregular`);
      expect(total.status).toBe(409);
      expect(((await total.json()) as { error: { code: string } }).error.code).toBe('UNIT_MISMATCH');
      const misp = (await (await fetch(`${open.url}/api/v1/misp.json`)).json()) as {
        response: {
          Event: { uuid: string; Tag: { name: string }[]; Attribute: { object_relation: string }[] };
        }[];
      };
      const incidents = [...batch1, ...batch2].filter((e) => e.type === 'smuggling.incident');
      expect(misp.response.map((r) => r.Event.uuid).sort()).toEqual(incidents.map((e) => e.eventId).sort());
      for (const { Event } of misp.response) {
        const tags = Event.Tag.map((t) => t.name);
        expect(tags).toEqual(expect.arrayContaining(['tlp:amber', 'admiralty-scale:source-reliability="b"']));
        for (const a of Event.Attribute) expect(INCIDENT_FIELDS).toContain(a.object_relation);
      }
      const [figure] = await store.figures();
      const prov = await fetch(`${open.url}/api/v1/provenance/MK/${figure?.provenance.eventId ?? ''}`);
      expect(((await prov.json()) as { agreementId: string }).agreementId).toBe(AGREEMENT);

      expect((await fetch(`${guardedLocal}/api/v1/export.sdmx.csv`)).status).toBe(401);
      const wrong = await fetch(`${guardedLocal}/api/v1/health`, {
        headers: { authorization: 'Bearer nope' },
      });
      expect(wrong.status).toBe(401);
      const parquet = await fetch(`${guardedLocal}/api/v1/export.parquet`, {
        headers: { authorization: 'Bearer secret-token' },
      });
      expect(parquet.status).toBe(200);
      const rows = await parquetReadObjects({ file: await parquet.arrayBuffer() });
      expect(rows).toHaveLength((await store.figures()).length);
    } finally {
      await open.close();
      await guarded.close();
      await store.close();
    }
  });
  it("applies MK's withdrawal and correction of incidents: the withdrawn one leaves the records and MISP", async () => {
    const incidents = [...batch1, ...batch2].filter((e) => e.type === 'smuggling.incident');
    const [withdrawn, corrected] = incidents;
    if (withdrawn === undefined || corrected === undefined) throw new Error('two incidents needed');
    const change = (type: 'record.correction' | 'record.withdrawal', body: Record<string, unknown>) => {
      const now = Date.now();
      const r = validateEvent({
        eventId: uuidV7(now),
        origin: 'MK',
        type,
        schemaVersion: 1,
        occurredAt: new Date(now - 1_000).toISOString(),
        recordedAt: new Date(now - 1_000).toISOString(),
        ...(type === 'record.correction' ? { recordCorrection: body } : { recordWithdrawal: body }),
      });
      if (!r.ok) throw new Error(`invalid ${type}`);
      return r.event;
    };
    const count = (corrected.smugglingIncident?.migrantsCount ?? 0) + 7;
    const fixed = JSON.parse(JSON.stringify(corrected)) as ValidEvent & {
      smugglingIncident: { migrantsCount: number };
    };
    fixed.smugglingIncident.migrantsCount = count;
    const withdrawal = change('record.withdrawal', {
      originalEventId: withdrawn.eventId,
      reason: 'duplicate',
    });
    const correction = change('record.correction', {
      originalEventId: corrected.eventId,
      reason: 'wrong-value',
      corrected: fixed,
    });
    await submitAll(mk, [withdrawal, correction]);
    const store = await AnalyticsStore.open(storeFile);
    const nc = await connectToGateway(frontex);
    const reader = ingestor(store, nc);
    try {
      await reader.start();
      const changed = await until(
        'both changes applied',
        async () => {
          const all = await store.records({ withdrawn: true });
          const w = all.find((r) => r.provenance.eventId === withdrawn.eventId);
          const c = all.find((r) => r.provenance.eventId === corrected.eventId);
          return w?.withdrawn === true && c?.changedBy === correction.eventId ? { w, c } : undefined;
        },
        60_000,
        200,
      );
      expect(changed.w.changedBy).toBe(withdrawal.eventId);
      expect(changed.c.claims.migrantsCount).toBe(count);
      expect(changed.c.withdrawn).toBe(false);
      expect(reader.stats.refused).toBe(0);
      const kept = (await store.records()).map((r) => r.provenance.eventId);
      expect(kept).not.toContain(withdrawn.eventId);
      expect(kept.sort()).toEqual(
        incidents
          .filter((e) => e !== withdrawn)
          .map((e) => e.eventId)
          .sort(),
      );
      const misp = smugglingMispEvents(await store.records({ type: 'smuggling.incident' })) as {
        response: { Event: { uuid: string } }[];
      };
      expect(misp.response.map((r) => r.Event.uuid).sort()).toEqual([...kept].sort());
      const notice = await store.provenance('MK', withdrawal.eventId);
      expect(notice?.agreementId).toBe(AGREEMENT);
    } finally {
      await reader.stop();
      await nc.close();
      await store.close();
    }
  }, 120_000);
});
