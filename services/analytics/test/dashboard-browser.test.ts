import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NatsConnection } from '@nats-io/transport-node';
import { periodOf, type ActiveAgreement, type AggregateTerm } from '@wbx/agreements';
import {
  AnalyticsApi,
  AnalyticsStore,
  InboxIngestor,
  routeView,
  WARNING_MIN_RISE,
  WARNING_RATIO,
  WARNING_WEEKS,
  warningsView,
  type Cell,
} from '@wbx/analytics';
import { startFederation, type Federation } from '@wbx/fixtures';
import { inboxMsgId, INBOX_STREAM, loadAgreements, type Gateway } from '@wbx/gateway';
import { verifyRootManifest, type ManifestBody } from '@wbx/registry';
import type { ValidEvent } from '@wbx/schema';
import { until } from '@wbx/test-helpers';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectToGateway, events, submitAll } from './support.js';

/** Debian's chromium (scripts/setup.sh installs it); the test never downloads a browser. */
const CHROMIUM = process.env.WBX_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`SKIPPED the dashboard browser test: no chromium at ${CHROMIUM}`);
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '.output');
const ORIGINS = ['MK', 'RS', 'AL'] as const;
const MIN_CELL = 5;
/** A reduced daily volume (CI time): about this many events per origin and day, over a year. */
const PER_DAY = 4;
const FROM = '2025-01-01';
const TO = '2026-01-01';
const BY_ROUTE: AggregateTerm = {
  types: ['crossing.irregular'],
  mode: 'aggregate',
  dimensions: ['routeSegment', 'direction'],
  period: 'month',
  minCell: MIN_CELL,
  retentionDays: 30,
};
const BY_CITIZENSHIP: AggregateTerm = { ...BY_ROUTE, dimensions: ['persons.citizenship'] };
const BY_DIRECTION: AggregateTerm = { ...BY_ROUTE, dimensions: ['direction'] };
const BY_AGE: AggregateTerm = { ...BY_ROUTE, dimensions: ['persons.ageBand'] };
const WEEKLY: AggregateTerm = { ...BY_ROUTE, dimensions: ['routeSegment'], period: 'week' };
const READMISSION_FIELDS = ['occurredAt', 'requestRef', 'requestingState', 'requestedState'];
const REQUESTS = {
  types: ['readmission.request'],
  mode: 'records',
  fields: [...READMISSION_FIELDS, 'deadline'],
  retentionDays: 30,
} as const;
const RESPONSES = {
  types: ['readmission.response'],
  mode: 'records',
  fields: [...READMISSION_FIELDS, 'outcome'],
  retentionDays: 30,
} as const;
const SENT = new Set(['crossing.irregular', 'readmission.request', 'readmission.response']);

const agreementOf = (origin: string): string => `${origin}-FRONTEX-1`;
const month = (e: ValidEvent): string => e.occurredAt.slice(0, 7);

let fed: Federation;
let frontex: Gateway;
let manifest: ManifestBody;
let agreements: ActiveAgreement[];
let dir: string;
let store: AnalyticsStore;
let nc: NatsConnection;
let reader: InboxIngestor;
let api: AnalyticsApi;
let browser: Browser;
let page: Page;
/** What beforeAll started, stopped in reverse order. */
const cleanup: (() => PromiseLike<unknown>)[] = [];
/** The generated crossings and readmission cases of each origin (the others are not sent). */
const generated = new Map<string, ValidEvent[]>(
  ORIGINS.map((o) => [
    o,
    events(o, PER_DAY * 365, `dashboard-${o}`, FROM, TO).filter((e) => SENT.has(e.type)),
  ]),
);
const crossings = [...generated.values()].flat().filter((e) => e.type === 'crossing.irregular');
const requests = [...generated.values()].flat().filter((e) => e.type === 'readmission.request');

/** Independent counts from the generated events: crossings per origin, section, direction and month. */
function routeCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of crossings) {
    const c = e.crossingIrregular;
    if (c === undefined) continue;
    const key = `${c.routeSegment}/${e.origin}/${c.direction}/${month(e)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Persons by citizenship in one month, over the three origins. */
function citizenshipCounts(period: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of crossings) {
    if (month(e) !== period) continue;
    for (const p of e.crossingIrregular?.persons ?? []) {
      counts.set(p.citizenship, (counts.get(p.citizenship) ?? 0) + 1);
    }
  }
  return counts;
}

const numberOf = (text: string): number => Number(text.replace(/,/g, ''));

/** A value as the page shows it: its button's text and data, its row's and cell's data attributes. */
interface Shown {
  readonly row: Readonly<Record<string, string>>;
  readonly period: string;
  readonly text: string;
  readonly known: number;
  readonly suppressed: number;
  /** How many of the suppressed cells are complements (secondary suppression). */
  readonly secondary: number;
  readonly cells: number;
  readonly label: string;
}

/**
 * That a value shows `count` (counted from the generated events): exactly when no cell of it is
 * suppressed; "< k" for one suppressed cell; "< k ×n" for n suppressed cells only; "×" for suppressed
 * cells only with a complement among them; otherwise "≥ known" with known below the count (a suppressed
 * cell holds at least one detection: never shown as 0).
 */
function expectShown(s: Shown, count: number, label: string): void {
  if (s.suppressed === 0) expect(numberOf(s.text), label).toBe(count);
  else if (s.secondary > 0 && s.known === 0 && s.suppressed === s.cells) expect(s.text, label).toBe('×');
  else if (s.cells === 1) expect(s.text, label).toBe(`< ${MIN_CELL}`);
  else if (s.known === 0 && s.suppressed === s.cells) expect(s.text, label).toBe(`< ${MIN_CELL} ×${s.cells}`);
  else {
    expect(s.text, label).toBe(`≥ ${s.known.toLocaleString('en-GB')}`);
    expect(s.known, label).toBeLessThan(count);
  }
}

/** The value buttons in the rows matching `rowSelector` (read in the page; the DOM is not typed here). */
function shownValues(page: Page, rowSelector: string): Promise<Shown[]> {
  return page.evaluate(`[...document.querySelectorAll(${JSON.stringify(rowSelector)})].flatMap((tr) =>
    [...tr.querySelectorAll('button.cell')].map((b) => ({
      row: Object.fromEntries([...tr.attributes].filter((a) => a.name.startsWith('data-'))
        .map((a) => [a.name.slice(5), a.value])),
      period: b.parentElement.getAttribute('data-period') ?? '',
      text: b.textContent,
      known: Number(b.getAttribute('data-known')),
      suppressed: Number(b.getAttribute('data-suppressed')),
      secondary: Number(b.getAttribute('data-secondary')),
      cells: Number(b.getAttribute('data-cells')),
      label: b.getAttribute('data-label'),
    })))`);
}

describe.skipIf(!HAVE_CHROMIUM)('the analytics dashboard in Chromium (MK, RS, AL → FRONTEX)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wbx-dashboard-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(OUTPUT, { recursive: true });
    fed = await startFederation([...ORIGINS, 'FRONTEX']);
    cleanup.push(() => fed[Symbol.asyncDispose]());
    const validFrom = new Date(Date.now() - 3_600_000).toISOString();
    const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
    for (const origin of ORIGINS) {
      await fed.agree({
        id: agreementOf(origin),
        provider: origin,
        recipient: 'FRONTEX',
        purposes: ['risk-analysis'],
        legalBasis: 'Test agreement',
        validFrom,
        validUntil,
        terms: [BY_ROUTE, BY_DIRECTION, BY_CITIZENSHIP, BY_AGE, WEEKLY, REQUESTS, RESPONSES],
      });
    }
    manifest = verifyRootManifest(JSON.parse(await readFile(fed.identity.manifestFile, 'utf8')) as never);
    agreements = await loadAgreements(
      fed.agreementsDir('FRONTEX'),
      manifest,
      'FRONTEX',
      new Date(),
      pino({ level: 'silent' }),
    );
    const origins = [];
    // A long settle: each month's first vintage counts every event (they are all submitted at once).
    const settings = { 'share.aggregateSettle': 8_000 };
    for (const origin of ORIGINS) origins.push(await fed.start(origin, { settings }));
    frontex = await fed.start('FRONTEX', { receiveFrom: origins });
    await Promise.all(origins.map((g, i) => submitAll(g, generated.get(ORIGINS[i] ?? '') ?? [])));
    store = await AnalyticsStore.open(join(dir, 'analytics.duckdb'));
    cleanup.push(() => store.close());
    nc = await connectToGateway(frontex);
    cleanup.push(async () => {
      await nc.close();
    });
    reader = new InboxIngestor({
      nc,
      store,
      stream: INBOX_STREAM,
      msgId: inboxMsgId,
      partner: 'FRONTEX',
      manifest: () => manifest,
      agreements: () => agreements,
    });
    await reader.start();
    cleanup.push(() => reader.stop());
    api = await AnalyticsApi.start({ store });
    cleanup.push(() => api.close());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
    });
    cleanup.push(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  }, 240_000);

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('takes in a vintage of every month of every origin, whose published values equal the events', async () => {
    const expected = routeCounts();
    expect(expected.size).toBeGreaterThan(0);
    const periods = new Set(crossings.map((e) => `${e.origin}/${month(e)}`));
    const weeks = new Set(crossings.map((e) => `${e.origin}/${periodOf(new Date(e.occurredAt), 'week')}`));
    const seriesExpected = 4 * periods.size + weeks.size;
    await until(
      'every month of every origin in the store, values settled',
      async () => {
        const view = await routeView(store);
        const seen = new Set<string>();
        for (const row of view.rows) {
          for (const [period, cell] of Object.entries(row.byPeriod)) {
            const key = `${row.routeSegment}/${row.origin}/${row.direction}/${period}`;
            seen.add(key);
            if (cell.suppressedCells === 0 && cell.known !== expected.get(key)) return false;
          }
        }
        if (![...expected.keys()].every((k) => seen.has(k))) return false;
        if ((await store.records({ type: 'readmission.request' })).length < requests.length) return false;
        // Every series of every period: the four monthly terms and the weekly one.
        const [row] = await store.select(
          'SELECT count(DISTINCT (origin, indicator, period, dimension_set)) AS n FROM wbx_vintages',
        );
        return Number(row?.n) === seriesExpected;
      },
      150_000,
      500,
    );
    expect(reader.stats.refused).toBe(0);
  }, 180_000);

  it('shows the figures computed from the generated events, suppressed cells as "< k"', async () => {
    await page.goto(`${api.url}/dashboard/`);
    await page.waitForSelector('body[data-ready]', { timeout: 60_000 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });

    // The route view: each cell is one published figure of one origin.
    const expected = routeCounts();
    const cells = (await shownValues(page, '#route-table tbody tr')).map((c) => ({
      ...c,
      key: `${c.row.segment ?? ''}/${c.row.origin ?? ''}/${c.row.direction ?? ''}/${c.period}`,
    }));
    expect(new Set(cells.map((c) => c.key))).toEqual(new Set(expected.keys()));
    let suppressedShown = 0;
    for (const c of cells) {
      const count = expected.get(c.key) ?? 0;
      if (c.suppressed > 0) {
        // A complement (hidden to protect another cell) shows "×": it holds minCell or more; any other
        // suppressed cell holds fewer.
        expect(c.text, c.key).toBe(c.secondary > 0 ? '×' : `< ${MIN_CELL}`);
        if (c.secondary > 0) expect(count, c.key).toBeGreaterThanOrEqual(MIN_CELL);
        else expect(count, c.key).toBeLessThan(MIN_CELL);
        suppressedShown += 1;
      } else {
        expect(numberOf(c.text), c.key).toBe(count);
        expect(count, c.key).toBeGreaterThanOrEqual(MIN_CELL);
      }
      // A cell below the threshold is never shown as a number (nor as 0).
      if (count < MIN_CELL) expect(c.text, c.key).toBe(`< ${MIN_CELL}`);
    }
    expect(suppressedShown).toBeGreaterThan(0);
    // The lag view beside it: MK's entries from Greece against its exits to Serbia.
    expect(await page.locator('#lag-table tr[data-pair="GR-MK>MK-RS"]').count()).toBe(1);

    // The indicators by month: the total of crossings over the origins, exact or an interval.
    const months = (await shownValues(page, '#ind-crossing-irregular tbody tr')).map((m) => ({
      ...m,
      period: m.row.period ?? '',
      provisional: m.row.provisional === 'true',
    }));
    const perMonth = new Map<string, number>();
    for (const e of crossings) perMonth.set(month(e), (perMonth.get(month(e)) ?? 0) + 1);
    expect(months.map((m) => m.period)).toEqual([...perMonth.keys()].sort());
    for (const m of months) {
      const total = perMonth.get(m.period) ?? 0;
      expectShown(m, total, m.period);
    }
    expect(months.map((m) => m.provisional)).toEqual(months.map((_, i) => i === months.length - 1));
    // Per-origin footnotes: the agreement and the threshold each origin's figures rest on.
    const notes = await page.locator('#footnotes').innerText();
    for (const origin of ORIGINS) {
      expect(notes).toContain(
        `Origin ${origin}: under ${agreementOf(origin)}; cells below ${MIN_CELL} suppressed`,
      );
    }

    // Nationalities of the latest month: each row's known value equals the persons counted.
    const latest = months.at(-1)?.period ?? '';
    const byCitizenship = citizenshipCounts(latest);
    const nat = (await shownValues(page, '#nat-table tbody tr[data-citizenship]')).map((r) => ({
      ...r,
      citizenship: r.row.citizenship ?? '',
    }));
    expect(nat.length).toBeGreaterThan(0);
    const [top] = nat;
    const most = Math.max(...byCitizenship.values());
    expect(top?.suppressed).toBe(0);
    expect(numberOf(top?.text ?? '')).toBe(most);
    for (const row of nat.filter((r) => !r.citizenship.startsWith('others'))) {
      const count = byCitizenship.get(row.citizenship) ?? 0;
      expectShown(row, count, row.citizenship);
    }
  }, 120_000);

  it('leads from a cell to its verified provenance: the sealed aggregate, origin, key and agreement', async () => {
    const button = page.locator('#route-table tbody tr td[data-period] button').first();
    const row = page.locator('#route-table tbody tr').first();
    const origin = (await row.getAttribute('data-origin')) ?? '';
    await button.click();
    const prov = page.locator('#provenance dl.prov').first();
    await prov.waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(OUTPUT, 'provenance.png') });
    const eventId = (await prov.getAttribute('data-event-id')) ?? '';
    const text = await prov.innerText();
    expect(text).toContain(agreementOf(origin));
    expect(text).toContain(`${origin}#`);
    expect(await prov.locator('dd.verified').innerText()).toMatch(/^verified ✓ \d{4}-/);
    const kept = await store.provenance(origin, eventId);
    expect(kept?.agreementId).toBe(agreementOf(origin));
    expect(text).toContain(kept?.kid ?? 'no key');
  }, 60_000);

  it('shows the demographics of the latest month with the unknown age band as a row of its own', async () => {
    const latest = [...new Set(crossings.map(month))].sort().at(-1) ?? '';
    const byAge = new Map<string, number>();
    for (const e of crossings.filter((x) => month(x) === latest)) {
      for (const p of e.crossingIrregular?.persons ?? [])
        byAge.set(p.ageBand, (byAge.get(p.ageBand) ?? 0) + 1);
    }
    const rows = (await shownValues(page, '#demo-table tbody tr')).filter(
      (r) => r.row.dimension === 'persons.ageBand',
    );
    expect(new Set(rows.map((r) => r.row.value))).toEqual(new Set(byAge.keys()));
    expect(byAge.has('unknown')).toBe(true);
    for (const r of rows) {
      const count = byAge.get(r.row.value ?? '') ?? 0;
      expectShown(r, count, r.row.value ?? '');
    }
  });

  it('flags a week only where its detections reach the documented rise over the weeks before', async () => {
    const weekly = new Map<string, Map<string, number>>();
    const originWeeks = new Map<string, Set<string>>();
    for (const e of crossings) {
      const week = periodOf(new Date(e.occurredAt), 'week');
      originWeeks.set(e.origin, (originWeeks.get(e.origin) ?? new Set()).add(week));
      const key = `${e.crossingIrregular?.routeSegment ?? ''}/${e.origin}`;
      const weeks = weekly.get(key) ?? new Map<string, number>();
      weeks.set(week, (weeks.get(week) ?? 0) + 1);
      weekly.set(key, weeks);
    }
    const view = await warningsView(store);
    // The series compared: sections with detections in an origin's last WARNING_WEEKS + 1 weeks.
    const recent = [...weekly].filter(([key, weeks]) => {
      const all = [...(originWeeks.get(key.split('/')[1] ?? '') ?? [])].sort();
      return [...weeks.keys()].some((w) => all.slice(-1 - WARNING_WEEKS).includes(w));
    });
    expect(view.series).toBe(recent.length);
    for (const flag of view.flags) {
      const weeks = weekly.get(`${flag.routeSegment}/${flag.origin}`) ?? new Map<string, number>();
      const sorted = [...(originWeeks.get(flag.origin) ?? [])].sort();
      expect(flag.week).toBe(sorted.at(-1));
      const at = sorted.indexOf(flag.week);
      expect(flag.value).toBe(weeks.get(flag.week));
      const before = sorted.slice(at - WARNING_WEEKS, at).map((w) => weeks.get(w) ?? 0);
      const baseline = before.reduce((a, b) => a + b, 0) / WARNING_WEEKS;
      expect(flag.baseline).toBeCloseTo(baseline, 6);
      expect(flag.value).toBeGreaterThanOrEqual(WARNING_RATIO * baseline);
      expect(flag.value - baseline).toBeGreaterThanOrEqual(WARNING_MIN_RISE);
    }
    const shown = await page.locator('#warnings tr.warning').count();
    expect(shown).toBe(view.flags.length);
  });

  it('shows the readmission requests the origins sent as records, per month and pair of states', async () => {
    const counts = new Map<string, number>();
    for (const e of requests) {
      const r = e.readmissionRequest;
      const key = `${month(e)}/${r?.requestingState ?? ''}-${r?.requestedState ?? ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBeGreaterThan(0);
    const rows = await shownValues(page, '#readm-table tbody tr');
    const shownRequests = new Map(
      rows
        .filter((r) => r.known > 0 && /^requests /.test(r.label))
        .map((r) => [`${r.row.period ?? ''}/${r.row.pair ?? ''}`, r.known]),
    );
    expect(shownRequests).toEqual(counts);
  });

  it('answers every dashboard view from the API, with suppressed cells never 0', async () => {
    for (const view of [
      'indicators',
      'nationalities',
      'route',
      'demographics',
      'warnings',
      'readmission',
      'lag',
      'origins',
    ]) {
      const r = await fetch(`${api.url}/api/v1/dashboard/${view}`);
      expect(r.status, view).toBe(200);
    }
    const route = await routeView(store);
    const all: Cell[] = route.rows.flatMap((r) => Object.values(r.byPeriod));
    for (const c of all) if (c.suppressedCells > 0) expect(c.known).toBe(0);
    const guarded = await AnalyticsApi.start({ store, host: '0.0.0.0', token: 'dash-token' });
    try {
      const local = guarded.url.replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(`${local}/api/v1/dashboard/route`)).status).toBe(401);
      const ok = await fetch(`${local}/api/v1/dashboard/route`, {
        headers: { authorization: 'Bearer dash-token' },
      });
      expect(ok.status).toBe(200);
      expect((await fetch(`${local}/dashboard/`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
