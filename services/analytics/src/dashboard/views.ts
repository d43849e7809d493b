import type { AnalyticsStore } from '../store.js';

/** Where a dashboard figure comes from: the sealed aggregate(s) carrying its cells. */
export interface SourceRef {
  readonly origin: string;
  readonly eventId: string;
}

/**
 * A dashboard value: the sum of one or more cells of one unit. `known` adds the unsuppressed cells; a
 * suppressed cell is never 0: a lone suppressed cell shows as "< minCell", a sum with suppressed cells
 * in it as "≥ known" (a cell suppressed to protect another may hold minCell or more, so `slack` bounds
 * only primary suppressions).
 */
export interface Cell {
  readonly known: number;
  readonly suppressedCells: number;
  /**
   * How many of the suppressed cells are complements (flagged `secondary`: hidden to protect another
   * cell, so they may hold minCell or more; shown as "×", never as "< minCell"). Absent: none.
   */
  readonly secondaryCells?: number;
  /** Σ (minCell − 1) over the suppressed cells: what they add at most if all are primary suppressions. */
  readonly slack: number;
  readonly minCell: number;
  readonly cells: number;
  readonly sources: readonly SourceRef[];
}

type Row = Record<string, unknown>;

/** A text column's value ('' for NULL). */
const text = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '';

/**
 * The latest vintage of each monthly or weekly series, one agreement per (origin, indicator, dimension
 * set) (the first by id, so that a cell carried under two agreements is not counted twice), with the
 * number of dimensions of its set.
 */
const latest = (periodRe: string): string => `latest AS (
    SELECT v.origin, v.event_id, v.agreement_id, v.indicator, v.period, v.dimension_set, v.unit, v.min_cell,
      json_array_length(v.dimension_set) AS dims
    FROM wbx_vintages v WHERE regexp_full_match(v.period, '${periodRe}')
    QUALIFY v.agreement_id = min(v.agreement_id) OVER (PARTITION BY v.origin, v.indicator, v.dimension_set)
      AND row_number() OVER (
        PARTITION BY v.origin, v.agreement_id, v.indicator, v.period, v.dimension_set
        ORDER BY v.issued_at DESC, v.event_id DESC) = 1
  )`;

/**
 * The latest vintages of the series of one period kind (`periodRe`) and, per (origin, indicator), the
 * dimension set with the fewest dimensions matching `setCondition`.
 */
const base = (setCondition: string, periodRe: string, rank = 'dims'): string => `WITH ${latest(periodRe)},
  chosen AS (
    SELECT origin, indicator, arg_min(dimension_set, ${rank}) AS dimension_set
    FROM latest WHERE ${setCondition}
    GROUP BY origin, indicator
  )`;

const MONTH_RE = '\\d{4}-\\d{2}';
const WEEK_RE = '\\d{4}-W\\d{2}';
const PERSON_SET = `dimension_set LIKE '%"person%'`;
const NO_PERSON = `NOT ${PERSON_SET}`;

const CELL_COLUMNS = `sum(f.value) FILTER (WHERE NOT f.suppressed) AS known,
    count(*) FILTER (WHERE f.suppressed) AS suppressed_cells,
    count(*) FILTER (WHERE f.suppressed AND list_contains(f.flags, 'secondary')) AS secondary_cells,
    sum(l.min_cell - 1) FILTER (WHERE f.suppressed) AS slack,
    max(l.min_cell) AS min_cell,
    count(*) AS cells,
    list(DISTINCT l.origin || '/' || l.event_id) AS sources`;

function cellOf(r: Row): Cell {
  const sources = ((r.sources as string[] | null) ?? []).sort().map((s) => {
    const [origin = '', eventId = ''] = s.split('/');
    return { origin, eventId };
  });
  return {
    known: Number(r.known ?? 0),
    suppressedCells: Number(r.suppressed_cells ?? 0),
    secondaryCells: Number(r.secondary_cells ?? 0),
    slack: Number(r.slack ?? 0),
    minCell: Number(r.min_cell ?? 0),
    cells: Number(r.cells ?? 0),
    sources,
  };
}

const previousPeriod = (period: string, months: number): string => {
  const [y = 0, m = 1] = period.split('-').map(Number);
  const t = new Date(Date.UTC(y, m - 1 - months, 1));
  return t.toISOString().slice(0, 7);
};

/** A change between two values, only where both are known exactly (no suppressed cell in either). */
function change(now: Cell | undefined, before: Cell | undefined): number | null {
  if (now === undefined || before === undefined) return null;
  if (now.suppressedCells > 0 || before.suppressedCells > 0 || before.known === 0) return null;
  return (now.known - before.known) / before.known;
}

export interface IndicatorMonth {
  readonly period: string;
  readonly value: Cell;
  readonly origins: readonly string[];
  /** The latest month: figures may still be revised. */
  readonly provisional: boolean;
  /** The set of origins reporting differs from the month before (a partner joins or leaves). */
  readonly break: string | null;
  readonly changeOnPreviousMonth: number | null;
  readonly changeOnSameMonthLastYear: number | null;
  /** The same month in earlier years: the lowest and highest known values, and how many years. */
  readonly band: { readonly min: number; readonly max: number; readonly years: number } | null;
}

export interface IndicatorSeries {
  readonly indicator: string;
  readonly unit: string;
  readonly months: readonly IndicatorMonth[];
  /** Year to date (the latest month's year, up to its month) against the same months a year before. */
  readonly yearToDate: {
    readonly year: string;
    readonly through: string;
    readonly value: Cell;
    readonly lastYear: Cell | null;
    readonly change: number | null;
  } | null;
}

function sumCells(cells: readonly Cell[]): Cell {
  return {
    known: cells.reduce((n, c) => n + c.known, 0),
    suppressedCells: cells.reduce((n, c) => n + c.suppressedCells, 0),
    secondaryCells: cells.reduce((n, c) => n + (c.secondaryCells ?? 0), 0),
    slack: cells.reduce((n, c) => n + c.slack, 0),
    minCell: Math.max(0, ...cells.map((c) => c.minCell)),
    cells: cells.reduce((n, c) => n + c.cells, 0),
    sources: cells.flatMap((c) => c.sources),
  };
}

/**
 * The indicators by month: per indicator and unit, the monthly total over the origins (each origin's
 * series with the fewest dimensions, one without a person dimension where there is one, so that events
 * are counted once; otherwise persons, a unit of its own), with change on
 * the previous month and on the same month last year, year-to-date against last year, and the band of
 * the same month over earlier years.
 */
export async function indicatorsView(store: AnalyticsStore): Promise<IndicatorSeries[]> {
  const rows = await store.select(
    `${base('TRUE', MONTH_RE, `(${PERSON_SET})::INTEGER * 100 + dims`)}
    SELECT l.indicator, l.unit, l.period, list(DISTINCT l.origin ORDER BY l.origin) AS origins,
      ${CELL_COLUMNS}
    FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
      JOIN wbx_figures f ON f.origin = l.origin AND f.event_id = l.event_id
    GROUP BY l.indicator, l.unit, l.period ORDER BY l.indicator, l.unit, l.period`,
  );
  const byKey = new Map<string, { indicator: string; unit: string; rows: Row[] }>();
  for (const r of rows) {
    const key = `${String(r.indicator)}\u0000${String(r.unit)}`;
    const entry = byKey.get(key) ?? { indicator: String(r.indicator), unit: String(r.unit), rows: [] };
    entry.rows.push(r);
    byKey.set(key, entry);
  }
  return [...byKey.values()].map(({ indicator, unit, rows: list }) => {
    const cells = new Map(list.map((r) => [String(r.period), cellOf(r)]));
    const latest = text(list.at(-1)?.period);
    let before: readonly string[] | undefined;
    const months = list.map((r): IndicatorMonth => {
      const period = String(r.period);
      const origins = (r.origins as string[]).slice();
      const joined = before === undefined ? [] : origins.filter((o) => !before?.includes(o));
      const left = before === undefined ? [] : before.filter((o) => !origins.includes(o));
      before = origins;
      const earlier = [...cells.entries()].filter(
        ([p, c]) => p.slice(5) === period.slice(5) && p < period && c.suppressedCells === 0,
      );
      const notes = [
        ...(joined.length > 0 ? [`${joined.join(', ')} reporting from this month`] : []),
        ...(left.length > 0 ? [`${left.join(', ')} not reporting`] : []),
      ];
      return {
        period,
        value: cells.get(period) ?? sumCells([]),
        origins,
        provisional: period === latest,
        break: notes.length > 0 ? notes.join('; ') : null,
        changeOnPreviousMonth: change(cells.get(period), cells.get(previousPeriod(period, 1))),
        changeOnSameMonthLastYear: change(cells.get(period), cells.get(previousPeriod(period, 12))),
        band:
          earlier.length === 0
            ? null
            : {
                min: Math.min(...earlier.map(([, c]) => c.known)),
                max: Math.max(...earlier.map(([, c]) => c.known)),
                years: earlier.length,
              },
      };
    });
    let yearToDate: IndicatorSeries['yearToDate'] = null;
    if (latest !== '') {
      const year = latest.slice(0, 4);
      const lastYear = String(Number(year) - 1);
      const ytd = [...cells.entries()].filter(([p]) => p.startsWith(year) && p <= latest);
      const prior = [...cells.entries()].filter(
        ([p]) => p.startsWith(lastYear) && p.slice(5) <= latest.slice(5),
      );
      const value = sumCells(ytd.map(([, c]) => c));
      const last = prior.length === 0 ? null : sumCells(prior.map(([, c]) => c));
      yearToDate = {
        year,
        through: latest,
        value,
        lastYear: last,
        change: change(value, last ?? undefined),
      };
    }
    return { indicator, unit, months, yearToDate };
  });
}

export interface NationalityRow {
  readonly citizenship: string;
  readonly value: Cell;
  /** The known part's share of the known total (suppressed cells excluded from both). */
  readonly share: number;
}

export interface NationalityView {
  readonly indicator: string;
  readonly period: string;
  readonly unit: string;
  readonly top: readonly NationalityRow[];
  readonly others: NationalityRow | null;
  readonly total: Cell;
}

/**
 * The top `n` citizenships of `indicator` in a period (a month, or a year: `2024`), summed over the
 * origins' series by citizenship (persons), with shares and an "others" row. The default period is the
 * latest month.
 */
export async function nationalityView(
  store: AnalyticsStore,
  options: { indicator?: string; period?: string; top?: number } = {},
): Promise<NationalityView> {
  const indicator = options.indicator ?? 'crossing.irregular';
  const n = options.top ?? 5;
  const start = base(`dimension_set SIMILAR TO '.*"persons?\\.citizenship".*'`, MONTH_RE);
  let period = options.period;
  if (period === undefined) {
    const [r] = await store.select(
      `${start} SELECT max(l.period) AS period
      FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
       WHERE l.indicator = $1`,
      [indicator],
    );
    period = text(r?.period);
  }
  const rows = await store.select(
    `${start}
    SELECT coalesce(json_extract_string(f.dimensions, '$."persons.citizenship"'),
        json_extract_string(f.dimensions, '$."person.citizenship"')) AS citizenship, any_value(l.unit) AS unit,
      ${CELL_COLUMNS}
    FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
      JOIN wbx_figures f ON f.origin = l.origin AND f.event_id = l.event_id
    WHERE l.indicator = $1 AND starts_with(l.period, $2) AND $2 <> ''
    GROUP BY citizenship ORDER BY known DESC NULLS LAST, citizenship`,
    [indicator, period],
  );
  const all = rows.map((r) => ({ citizenship: String(r.citizenship), value: cellOf(r) }));
  const total = sumCells(all.map((r) => r.value));
  const share = (c: Cell): number => (total.known === 0 ? 0 : c.known / total.known);
  const top = all.slice(0, n).map((r) => ({ ...r, share: share(r.value) }));
  const rest = all.slice(n);
  const othersCell = sumCells(rest.map((r) => r.value));
  return {
    indicator,
    period,
    unit: text(rows[0]?.unit) || 'persons',
    top,
    others:
      rest.length === 0
        ? null
        : { citizenship: `others (${rest.length})`, value: othersCell, share: share(othersCell) },
    total,
  };
}

export interface RouteRow {
  readonly routeSegment: string;
  /** The origin reporting: each side of a border reports its own detections (never added). */
  readonly origin: string;
  readonly direction: string;
  readonly byPeriod: Readonly<Record<string, Cell>>;
}

export interface RouteView {
  readonly indicator: string;
  readonly periods: readonly string[];
  readonly rows: readonly RouteRow[];
}

/** The order of the border sections along the route (upstream first). */
export const ROUTE_ORDER: readonly string[] = [
  'TR-BG',
  'TR-GR',
  'GR-MK',
  'GR-AL',
  'AL-ME',
  'ME-BA',
  'MK-RS',
  'BG-RS',
  'XK-RS',
  'RS-HU',
  'RS-HR',
  'RS-RO',
  'BA-HR',
  'HR-SI',
];

const routeRank = (segment: string): number => {
  const i = ROUTE_ORDER.indexOf(segment);
  return i === -1 ? ROUTE_ORDER.length : i;
};

/**
 * The route view: per border section, reporting origin and direction (entry/exit where the series has
 * it), the detections per month, each cell one published figure.
 */
export async function routeView(
  store: AnalyticsStore,
  options: { indicator?: string; year?: string } = {},
): Promise<RouteView> {
  const indicator = options.indicator ?? 'crossing.irregular';
  const rows = await store.select(
    `${base(`${NO_PERSON} AND dimension_set LIKE '%"routeSegment"%'`, MONTH_RE)}
    SELECT l.origin, l.period, json_extract_string(f.dimensions, '$.routeSegment') AS segment,
      coalesce(json_extract_string(f.dimensions, '$.direction'), 'all') AS direction, ${CELL_COLUMNS}
    FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
      JOIN wbx_figures f ON f.origin = l.origin AND f.event_id = l.event_id
    WHERE l.indicator = $1 AND starts_with(l.period, $2)
    GROUP BY ALL ORDER BY l.period`,
    [indicator, options.year ?? ''],
  );
  const periods = [...new Set(rows.map((r) => String(r.period)))].sort();
  const byRow = new Map<
    string,
    { routeSegment: string; origin: string; direction: string; byPeriod: Record<string, Cell> }
  >();
  for (const r of rows) {
    const key = `${String(r.segment)}/${String(r.origin)}/${String(r.direction)}`;
    const row = byRow.get(key) ?? {
      routeSegment: String(r.segment),
      origin: String(r.origin),
      direction: String(r.direction),
      byPeriod: {},
    };
    row.byPeriod[String(r.period)] = cellOf(r);
    byRow.set(key, row);
  }
  const sorted = [...byRow.values()].sort(
    (a, b) =>
      routeRank(a.routeSegment) - routeRank(b.routeSegment) ||
      a.routeSegment.localeCompare(b.routeSegment) ||
      a.origin.localeCompare(b.origin) ||
      a.direction.localeCompare(b.direction),
  );
  return { indicator, periods, rows: sorted };
}

export interface DemographicsRow {
  readonly dimension: string;
  readonly value: string;
  readonly cell: Cell;
}

/**
 * Demographics of `indicator`'s persons in a period (default: the latest month with any): per person
 * dimension published (sex, age band, unaccompanied minors), the persons per value, "unknown" shown as a
 * value of its own.
 */
export async function demographicsView(
  store: AnalyticsStore,
  options: { indicator?: string; period?: string } = {},
): Promise<{ indicator: string; period: string; rows: DemographicsRow[] }> {
  const indicator = options.indicator ?? 'crossing.irregular';
  // One statement: per dimension, each origin's series with the fewest dimensions that has it.
  const rows = await store.select(
    `WITH ${latest(MONTH_RE)},
    wanted(dim, rank) AS (VALUES ('persons.sex', 1), ('persons.ageBand', 2), ('persons.unaccompaniedMinor', 3)),
    chosen AS (
      SELECT w.dim, w.rank, l.origin, l.indicator, arg_min(l.dimension_set, l.dims) AS dimension_set
      FROM latest l JOIN wanted w ON l.dimension_set LIKE ('%"' || w.dim || '"%')
      WHERE l.indicator = $1
      GROUP BY ALL
    ),
    shown AS (
      SELECT coalesce(nullif($2, ''), max(l.period)) AS period
      FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
    )
    SELECT c.dim, any_value(c.rank) AS rank, any_value(s.period) AS period,
      json_extract_string(f.dimensions, '$."' || c.dim || '"') AS v, ${CELL_COLUMNS}
    FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
      JOIN wbx_figures f ON f.origin = l.origin AND f.event_id = l.event_id
      CROSS JOIN shown s
    WHERE starts_with(l.period, s.period)
    GROUP BY c.dim, v ORDER BY rank, v`,
    [indicator, options.period ?? ''],
  );
  return {
    indicator,
    period: text(rows[0]?.period) || (options.period ?? ''),
    rows: rows.map((r) => ({ dimension: text(r.dim), value: text(r.v), cell: cellOf(r) })),
  };
}

export interface WarningFlag {
  readonly routeSegment: string;
  readonly origin: string;
  readonly week: string;
  readonly value: number;
  /** The mean of the four weeks before. */
  readonly baseline: number;
  readonly ratio: number;
  readonly sources: readonly SourceRef[];
}

/** Early warning: a week is flagged at ≥ this many times its baseline … */
export const WARNING_RATIO = 1.5;
/** … and at least this many detections above it (small numbers move a lot). */
export const WARNING_MIN_RISE = 10;
/** The baseline: the mean of this many weeks before. */
export const WARNING_WEEKS = 4;

/**
 * Week-on-week early-warning flags per border section and origin (weekly series with a routeSegment
 * dimension): the origin's latest published week is flagged when a section's detections reach
 * WARNING_RATIO × the mean of the WARNING_WEEKS weeks the origin published before and exceed it by
 * WARNING_MIN_RISE (a section without a cell in a published week had none: 0); a section with a
 * suppressed cell in those weeks is not compared (its value is not known). docs/analytics-dashboard.md
 * documents the method.
 */
export async function warningsView(
  store: AnalyticsStore,
  options: { indicator?: string } = {},
): Promise<{
  indicator: string;
  method: string;
  flags: WarningFlag[];
  /** The (section, origin) series with detections in the weeks compared. */
  series: number;
}> {
  const indicator = options.indicator ?? 'crossing.irregular';
  const rows = await store.select(
    `${base(`${NO_PERSON} AND dimension_set LIKE '%"routeSegment"%'`, WEEK_RE)},
    -- Only the weeks compared: each origin's latest and the WARNING_WEEKS before it.
    recent AS (
      SELECT l.origin, l.period FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
      WHERE l.indicator = $1
      QUALIFY dense_rank() OVER (PARTITION BY l.origin ORDER BY l.period DESC) <= ${WARNING_WEEKS + 1}
    )
    SELECT l.origin, l.period, json_extract_string(f.dimensions, '$.routeSegment') AS segment, ${CELL_COLUMNS}
    FROM latest l JOIN chosen c USING (origin, indicator, dimension_set)
      JOIN (SELECT DISTINCT origin, period FROM recent) r ON r.origin = l.origin AND r.period = l.period
      JOIN wbx_figures f ON f.origin = l.origin AND f.event_id = l.event_id
    WHERE l.indicator = $1
    GROUP BY ALL ORDER BY segment, l.origin, l.period`,
    [indicator],
  );
  // The weeks each origin published (a section without a cell in one of them had no detections: 0).
  const weeksOf = new Map<string, Set<string>>();
  const series = new Map<string, { segment: string; origin: string; weeks: Map<string, Cell> }>();
  for (const r of rows) {
    const origin = text(r.origin);
    const period = text(r.period);
    weeksOf.set(origin, (weeksOf.get(origin) ?? new Set()).add(period));
    const key = `${text(r.segment)}/${origin}`;
    const s = series.get(key) ?? { segment: text(r.segment), origin, weeks: new Map<string, Cell>() };
    s.weeks.set(period, cellOf(r));
    series.set(key, s);
  }
  const zero = sumCells([]);
  const flags: WarningFlag[] = [];
  for (const s of series.values()) {
    const weeks = [...(weeksOf.get(s.origin) ?? [])].sort();
    const week = weeks.at(-1);
    const before = weeks.slice(-1 - WARNING_WEEKS, -1).map((w) => s.weeks.get(w) ?? zero);
    if (week === undefined || before.length < WARNING_WEEKS) continue;
    const last = s.weeks.get(week) ?? zero;
    if ([last, ...before].some((c) => c.suppressedCells > 0)) continue;
    const baseline = before.reduce((n, c) => n + c.known, 0) / before.length;
    const value = last.known;
    if (value >= WARNING_RATIO * baseline && value - baseline >= WARNING_MIN_RISE) {
      flags.push({
        routeSegment: s.segment,
        origin: s.origin,
        week,
        value,
        baseline,
        ratio: baseline === 0 ? Number.POSITIVE_INFINITY : value / baseline,
        sources: last.sources,
      });
    }
  }
  return {
    indicator,
    method: `latest week ≥ ${WARNING_RATIO} × the mean of the ${WARNING_WEEKS} weeks before, and ≥ ${WARNING_MIN_RISE} above it`,
    flags,
    series: series.size,
  };
}

export interface ReadmissionRow {
  /** The month of the request (or of the answer, where the node sees only the answer). */
  readonly period: string;
  readonly requestingState: string;
  readonly requestedState: string;
  readonly requests: Cell;
  readonly answered: Cell;
  /** Answered by the request's deadline (only where the node sees both, and the deadline). */
  readonly answeredInTime: Cell;
  readonly accepted: Cell;
}

/** Records counted as a value: nothing suppressed (an agreement let them through as records). */
function recordCell(list: readonly string[] | null): Cell {
  const sources = [...(list ?? [])].sort().map((s) => {
    const [origin = '', eventId = ''] = s.split('/');
    return { origin, eventId };
  });
  return { known: sources.length, suppressedCells: 0, slack: 0, minCell: 0, cells: 1, sources };
}

/**
 * Readmission cases the node sees as records (`readmission.request`, `readmission.response`, joined by
 * request reference): per month and pair of states, the requests, those answered, answered by the
 * request's deadline, and accepted. Withdrawn records are left out.
 */
export async function readmissionView(store: AnalyticsStore): Promise<{ rows: ReadmissionRow[] }> {
  const rows = await store.select(
    `WITH req AS (
      SELECT origin, event_id, json_extract_string(claims, '$.requestRef') AS ref,
        json_extract_string(claims, '$.requestingState') AS requesting,
        json_extract_string(claims, '$.requestedState') AS requested,
        substr(occurred_at, 1, 7) AS period, json_extract_string(claims, '$.deadline') AS deadline
      FROM wbx_records WHERE type = 'readmission.request' AND NOT withdrawn
    ), res AS (
      SELECT origin, event_id, json_extract_string(claims, '$.requestRef') AS ref,
        json_extract_string(claims, '$.requestingState') AS requesting,
        json_extract_string(claims, '$.requestedState') AS requested,
        occurred_at, json_extract_string(claims, '$.outcome') AS outcome
      FROM wbx_records WHERE type = 'readmission.response' AND NOT withdrawn
      QUALIFY row_number() OVER (PARTITION BY ref, requesting, requested ORDER BY occurred_at DESC) = 1
    )
    SELECT coalesce(req.period, substr(res.occurred_at, 1, 7)) AS period,
      coalesce(req.requesting, res.requesting) AS requesting,
      coalesce(req.requested, res.requested) AS requested,
      list(req.origin || '/' || req.event_id) FILTER (WHERE req.ref IS NOT NULL) AS requests,
      list(res.origin || '/' || res.event_id) FILTER (WHERE res.ref IS NOT NULL) AS answered,
      list(res.origin || '/' || res.event_id) FILTER (
        WHERE req.deadline IS NOT NULL AND res.occurred_at IS NOT NULL
          AND res.occurred_at::TIMESTAMPTZ <= req.deadline::TIMESTAMPTZ) AS in_time,
      list(res.origin || '/' || res.event_id) FILTER (WHERE res.outcome = 'accepted') AS accepted
    FROM req FULL OUTER JOIN res USING (ref, requesting, requested)
    GROUP BY ALL ORDER BY period, requesting, requested`,
  );
  return {
    rows: rows.map((r) => ({
      period: text(r.period),
      requestingState: text(r.requesting),
      requestedState: text(r.requested),
      requests: recordCell(r.requests as string[] | null),
      answered: recordCell(r.answered as string[] | null),
      answeredInTime: recordCell(r.in_time as string[] | null),
      accepted: recordCell(r.accepted as string[] | null),
    })),
  };
}

export interface ReceptionFacility {
  readonly origin: string;
  readonly facilityId: string;
  readonly facilityType: string;
  /** When the snapshot was taken (its occurredAt): the stock is as of then. */
  readonly asOf: string;
  readonly capacity: number;
  readonly occupancy: number;
  readonly children: number;
  readonly unaccompaniedMinors: number;
  readonly source: SourceRef;
}

export interface ReceptionRow {
  readonly origin: string;
  readonly facilities: number;
  readonly capacity: Cell;
  readonly occupancy: Cell;
  readonly children: Cell;
  readonly unaccompaniedMinors: Cell;
  /** The oldest and the newest snapshot summed: the row's stock is as of these dates. */
  readonly oldestAsOf: string;
  readonly latestAsOf: string;
}

/** A sum over records (nothing suppressed): the snapshots it adds up as its sources. */
function sumCell(list: readonly ReceptionFacility[], value: (f: ReceptionFacility) => number): Cell {
  const sources = list.map((f) => f.source);
  return {
    known: list.reduce((s, f) => s + value(f), 0),
    suppressedCells: 0,
    slack: 0,
    minCell: 0,
    cells: list.length,
    sources,
  };
}

/**
 * Reception stock against capacity from the `reception.capacity` records the node holds: per origin and
 * facility the latest snapshot taken on or before `asOf` (a day, `YYYY-MM-DD`, inclusive; default: the
 * latest), with its as-of date, and per origin the sums over its facilities with the oldest and newest
 * as-of dates they rest on. Withdrawn records are left out; a stock is never summed over time.
 */
export async function receptionView(
  store: AnalyticsStore,
  options: { asOf?: string } = {},
): Promise<{ asOf: string | null; rows: ReceptionRow[]; facilities: ReceptionFacility[] }> {
  const before =
    options.asOf === undefined
      ? undefined
      : new Date(Date.parse(`${options.asOf}T00:00:00Z`) + 86_400_000).toISOString();
  const rows = await store.select(
    `SELECT origin, event_id, occurred_at, json_extract_string(claims, '$.facilityId') AS facility,
       json_extract_string(claims, '$.facilityType') AS facility_type,
       CAST(json_extract(claims, '$.capacity') AS BIGINT) AS capacity,
       CAST(json_extract(claims, '$.occupancy') AS BIGINT) AS occupancy,
       CAST(json_extract(claims, '$.children') AS BIGINT) AS children,
       CAST(json_extract(claims, '$.unaccompaniedMinors') AS BIGINT) AS minors
     FROM wbx_records
     WHERE type = 'reception.capacity' AND NOT withdrawn AND occurred_at IS NOT NULL
       ${before === undefined ? '' : 'AND occurred_at::TIMESTAMPTZ < $1::TIMESTAMPTZ'}
     QUALIFY row_number() OVER (
       PARTITION BY origin, facility ORDER BY occurred_at::TIMESTAMPTZ DESC, event_id DESC) = 1
     ORDER BY origin, facility`,
    before === undefined ? [] : [before],
  );
  const facilities = rows.map((r): ReceptionFacility => ({
    origin: text(r.origin),
    facilityId: text(r.facility),
    facilityType: text(r.facility_type),
    asOf: text(r.occurred_at),
    capacity: Number(r.capacity ?? 0),
    occupancy: Number(r.occupancy ?? 0),
    children: Number(r.children ?? 0),
    unaccompaniedMinors: Number(r.minors ?? 0),
    source: { origin: text(r.origin), eventId: text(r.event_id) },
  }));
  const byOrigin = new Map<string, ReceptionFacility[]>();
  for (const f of facilities) byOrigin.set(f.origin, [...(byOrigin.get(f.origin) ?? []), f]);
  return {
    asOf: options.asOf ?? null,
    facilities,
    rows: [...byOrigin].map(([origin, list]) => {
      const dates = list.map((f) => f.asOf).sort((a, b) => Date.parse(a) - Date.parse(b));
      return {
        origin,
        facilities: list.length,
        capacity: sumCell(list, (f) => f.capacity),
        occupancy: sumCell(list, (f) => f.occupancy),
        children: sumCell(list, (f) => f.children),
        unaccompaniedMinors: sumCell(list, (f) => f.unaccompaniedMinors),
        oldestAsOf: dates[0] ?? '',
        latestAsOf: dates.at(-1) ?? '',
      };
    }),
  };
}

export interface OriginNote {
  readonly origin: string;
  readonly agreements: readonly string[];
  readonly minCells: readonly number[];
  readonly units: readonly string[];
  readonly firstPeriod: string;
  readonly lastPeriod: string;
  /** When this node last verified an aggregate of the origin. */
  readonly lastVerified: string;
}

/**
 * Per origin, what its figures rest on, for the footnotes: the agreements they come under, the
 * origin's minCell (cells below it are suppressed), the units, the months covered and the last
 * verification.
 */
export async function originsView(store: AnalyticsStore): Promise<{ origins: OriginNote[] }> {
  const rows = await store.select(
    `SELECT origin, list(DISTINCT agreement_id ORDER BY agreement_id) AS agreements,
       list(DISTINCT min_cell ORDER BY min_cell) AS min_cells, list(DISTINCT unit ORDER BY unit) AS units,
       min(period) FILTER (WHERE regexp_full_match(period, '${MONTH_RE}')) AS first_period,
       max(period) FILTER (WHERE regexp_full_match(period, '${MONTH_RE}')) AS last_period,
       epoch_ms(max(verified_at)) AS last_verified
     FROM wbx_vintages GROUP BY origin ORDER BY origin`,
  );
  return {
    origins: rows.map((r) => ({
      origin: text(r.origin),
      agreements: (r.agreements as string[] | null) ?? [],
      minCells: ((r.min_cells as number[] | null) ?? []).map(Number),
      units: (r.units as string[] | null) ?? [],
      firstPeriod: text(r.first_period),
      lastPeriod: text(r.last_period),
      lastVerified: new Date(Number(r.last_verified)).toISOString(),
    })),
  };
}

/** Pairs of border sections along the route: the entries of the first, the exits of the second. */
export const ROUTE_PAIRS: readonly (readonly [string, string])[] = [
  ['TR-GR', 'GR-MK'],
  ['TR-GR', 'GR-AL'],
  ['GR-MK', 'MK-RS'],
  ['MK-RS', 'RS-HU'],
  ['MK-RS', 'RS-HR'],
  ['BG-RS', 'RS-HU'],
  ['GR-AL', 'AL-ME'],
  ['AL-ME', 'ME-BA'],
  ['ME-BA', 'BA-HR'],
];

export interface LagRow {
  readonly upstream: string;
  readonly downstream: string;
  /** Months where both monthly sums are exact (no suppressed cell). */
  readonly months: number;
  /** Pearson correlation of upstream entries in month t with downstream exits in month t + lag. */
  readonly correlations: readonly { readonly lag: number; readonly r: number | null; readonly n: number }[];
  /** The lag with the highest correlation, if any could be computed. */
  readonly bestLag: number | null;
}

function pearson(pairs: readonly [number, number][]): number | null {
  if (pairs.length < 3) return null;
  const mean = (i: 0 | 1): number => pairs.reduce((s, p) => s + p[i], 0) / pairs.length;
  const mx = mean(0);
  const my = mean(1);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const [x, y] of pairs) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

const monthIndex = (period: string): number => Number(period.slice(0, 4)) * 12 + Number(period.slice(5, 7));

/**
 * The lag view: for pairs of border sections along the route, how the monthly entries at the upstream
 * section (cells with direction entry) go with the exits at the downstream one `lag` months later
 * (0 … maxLag), as a correlation over the months where both sums are exact. Sections without a
 * direction dimension count all their detections.
 */
export async function lagView(
  store: AnalyticsStore,
  options: { indicator?: string; maxLag?: number } = {},
): Promise<{ indicator: string; rows: LagRow[] }> {
  const maxLag = options.maxLag ?? 3;
  const route = await routeView(
    store,
    options.indicator === undefined ? {} : { indicator: options.indicator },
  );
  /** segment/direction → month → the sum over origins, undefined when a suppressed cell is in it. */
  const sums = new Map<string, Map<number, number | undefined>>();
  for (const row of route.rows) {
    for (const direction of row.direction === 'all' ? ['entry', 'exit'] : [row.direction]) {
      const key = `${row.routeSegment}/${direction}`;
      const months = sums.get(key) ?? new Map<number, number | undefined>();
      for (const [period, cell] of Object.entries(row.byPeriod)) {
        const m = monthIndex(period);
        const before = months.has(m) ? months.get(m) : 0;
        months.set(m, before === undefined || cell.suppressedCells > 0 ? undefined : before + cell.known);
      }
      sums.set(key, months);
    }
  }
  const exact = (key: string): Map<number, number> =>
    new Map(
      [...(sums.get(key) ?? new Map<number, number | undefined>())].filter(
        (e): e is [number, number] => e[1] !== undefined,
      ),
    );
  const rows: LagRow[] = [];
  for (const [upstream, downstream] of ROUTE_PAIRS) {
    const up = exact(`${upstream}/entry`);
    const down = exact(`${downstream}/exit`);
    if (up.size === 0 || down.size === 0) continue;
    const correlations = Array.from({ length: maxLag + 1 }, (_, lag) => {
      const pairs = [...up].flatMap(([m, x]): [number, number][] => {
        const y = down.get(m + lag);
        return y === undefined ? [] : [[x, y]];
      });
      return { lag, r: pearson(pairs), n: pairs.length };
    });
    const best = correlations.reduce<{ lag: number; r: number } | null>(
      (b, c) => (c.r !== null && (b === null || c.r > b.r) ? { lag: c.lag, r: c.r } : b),
      null,
    );
    rows.push({
      upstream,
      downstream,
      months: [...up.keys()].filter((m) => down.has(m)).length,
      correlations,
      bestLag: best?.lag ?? null,
    });
  }
  return { indicator: route.indicator, rows };
}
