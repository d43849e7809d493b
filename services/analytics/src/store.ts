import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';

import { AnalyticsError } from './errors.js';
import { cellKey, dimensionSetKey, type CellRef, type Figure, type Provenance } from './figure.js';
import { SCHEMA_SQL } from './internal/schema-sql.js';
import { unitOf, type Unit } from './units.js';

/** A cell of a received `stats.aggregate` (StatsAggregateSchema), with the origin's flags if any. */
export interface ReceivedCell {
  readonly values: readonly string[];
  readonly count: number;
  readonly suppressed: boolean;
  /** Set on a suppressed cell hidden by secondary suppression (a complement): flagged `secondary`. */
  readonly secondary?: boolean;
  readonly flags?: readonly string[];
}

/** A verified presentation to keep: an aggregate (a vintage) or a record. */
export type StoreItem =
  | {
      readonly kind: 'aggregate';
      readonly provenance: Provenance;
      readonly sourceType: string;
      readonly period: string;
      readonly dimensions: readonly string[];
      readonly minCell: number;
      readonly cells: readonly ReceivedCell[];
      readonly token: string;
    }
  | {
      /** A record; a later version of one kept (a correction: same event id) replaces its claims. */
      readonly kind: 'record';
      readonly provenance: Provenance;
      readonly type: string;
      readonly claims: Readonly<Record<string, unknown>>;
      readonly token: string;
    }
  | {
      /** A `record.correction` or `record.withdrawal` notice of the origin about one of its records. */
      readonly kind: 'change';
      readonly provenance: Provenance;
      readonly type: 'record.correction' | 'record.withdrawal';
      readonly originalEventId: string;
      readonly reason?: string;
      readonly token: string;
    };

/** Which figures: the latest vintage of each series as of `asOf` (default: now), optionally filtered. */
export interface FigureQuery {
  readonly asOf?: Date;
  readonly origin?: string;
  readonly indicator?: string;
  readonly agreementId?: string;
  /** A period (`2024-03`), or a prefix of one (`2024`). */
  readonly period?: string;
}

/** A record as kept: its provenance, type and verified claims (its latest version). */
export interface StoredRecord {
  readonly type: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly provenance: Provenance;
  /** The event id of the last correction or withdrawal notice applied to it. */
  readonly changedBy?: string;
  readonly withdrawn: boolean;
}

/** A sum of figures of one unit: the known part, and bounds when suppressed cells are among them. */
export interface Total {
  readonly unit: Unit;
  /** The sum of the unsuppressed values. */
  readonly known: number;
  /** How many suppressed cells the total covers. */
  readonly suppressedCells: number;
  /**
   * The total lies in [lower, upper]. `upper` is null (open) when suppressed cells are among the figures:
   * a cell below minCell and a cell hidden by secondary suppression (which may hold any count) travel
   * alike, so no upper bound can be claimed.
   */
  readonly lower: number;
  readonly upper: number | null;
}

/**
 * Adds up figures, which must all be of one unit (persons are never added to detections): throws
 * UNIT_MISMATCH otherwise. A suppressed cell is not 0: the total is an interval, open above when any
 * cell is suppressed.
 */
export function totalOf(figures: readonly Figure[]): Total | undefined {
  const units = [...new Set(figures.map((f) => f.unit))];
  if (units.length > 1) {
    throw new AnalyticsError('UNIT_MISMATCH', `cannot add figures of different units: ${units.join(', ')}`);
  }
  const unit = units[0];
  if (unit === undefined) return undefined;
  let known = 0;
  let suppressedCells = 0;
  for (const f of figures) {
    if (f.suppressed || f.value === null) suppressedCells += 1;
    else known += f.value;
  }
  return { unit, known, suppressedCells, lower: known, upper: suppressedCells > 0 ? null : known };
}

const FIGURE_COLUMNS = `v.origin, v.event_id, v.agreement_id, v.indicator, v.period, v.unit,
  v.min_cell, v.kid, epoch_ms(v.issued_at) AS issued_ms, epoch_ms(v.verified_at) AS verified_ms, v.inbox_seq,
  f.dimensions, f.value, f.suppressed, f.flags`;

type Row = Record<string, unknown>;

const iso = (ms: unknown): string => new Date(Number(ms)).toISOString();

function provenanceOf(r: Row): Provenance {
  return {
    origin: String(r.origin),
    eventId: String(r.event_id),
    kid: String(r.kid),
    agreementId: String(r.agreement_id),
    issuedAt: iso(r.issued_ms),
    verifiedAt: iso(r.verified_ms),
    inboxSeq: Number(r.inbox_seq),
  };
}

function figureOf(r: Row): Figure {
  return {
    origin: String(r.origin),
    agreementId: String(r.agreement_id),
    indicator: String(r.indicator),
    period: String(r.period),
    dimensions: JSON.parse(String(r.dimensions)) as Record<string, string>,
    value: r.value === null || r.value === undefined ? null : Number(r.value),
    unit: String(r.unit) as Unit,
    suppressed: r.suppressed === true,
    minCell: Number(r.min_cell),
    flags: (r.flags as string[] | null) ?? [],
    provenance: provenanceOf(r),
  };
}

/** Conditions on the vintages table (alias v) for a query, with their parameters. */
function where(q: FigureQuery, params: DuckDBValue[]): string {
  const conditions = [
    `v.issued_at <= to_timestamp($${params.push((q.asOf ?? new Date()).getTime())} / 1000.0)`,
  ];
  if (q.origin !== undefined) conditions.push(`v.origin = $${params.push(q.origin)}`);
  if (q.indicator !== undefined) conditions.push(`v.indicator = $${params.push(q.indicator)}`);
  if (q.agreementId !== undefined) conditions.push(`v.agreement_id = $${params.push(q.agreementId)}`);
  if (q.period !== undefined) conditions.push(`starts_with(v.period, $${params.push(q.period)})`);
  return conditions.join(' AND ');
}

/** The SQL of the latest vintage's figures per series as of the query's time, with its parameters. */
export function latestFiguresSql(q: FigureQuery): { sql: string; params: DuckDBValue[] } {
  const params: DuckDBValue[] = [];
  const sql = `WITH latest AS (
      SELECT * FROM wbx_vintages v WHERE ${where(q, params)}
      QUALIFY row_number() OVER (
        PARTITION BY origin, agreement_id, indicator, period, dimension_set
        ORDER BY issued_at DESC, event_id DESC) = 1
    )
    SELECT ${FIGURE_COLUMNS} FROM latest v JOIN wbx_figures f USING (origin, event_id)
    ORDER BY v.period, v.origin, v.indicator, v.agreement_id, f.cell`;
  return { sql, params };
}

type AggregateItem = Extract<StoreItem, { kind: 'aggregate' }>;
type RecordItem = Extract<StoreItem, { kind: 'record' }>;

/** Rows passed as one JSON parameter (`$1`, a list of objects), as a table `s` of the given columns. */
const staged = (columns: string): string =>
  `(SELECT unnest($1::JSON::STRUCT(${columns})[], recursive := true)) s`;

const VINTAGE_STAGE = `origin VARCHAR, event_id VARCHAR, agreement_id VARCHAR, indicator VARCHAR,
  period VARCHAR, dimension_set VARCHAR, unit VARCHAR, min_cell INTEGER, kid VARCHAR, issued BIGINT,
  verified BIGINT, inbox_seq UBIGINT, token VARCHAR`;

const RECORD_STAGE = `origin VARCHAR, event_id VARCHAR, type VARCHAR, agreement_id VARCHAR, kid VARCHAR,
  occurred_at VARCHAR, issued BIGINT, verified BIGINT, inbox_seq UBIGINT, claims VARCHAR, token VARCHAR`;

const FIGURE_STAGE = `origin VARCHAR, event_id VARCHAR, cell VARCHAR, dimensions VARCHAR, value BIGINT,
  suppressed BOOLEAN, flags VARCHAR[]`;

/**
 * The analytics store: an embedded DuckDB database holding every verified aggregate of the inbox as a
 * vintage (one row per cell, with its provenance), the records agreements allow, and the position of
 * the inbox consumer, written in the same transaction as what it covers (a restart continues where
 * the last committed batch ended; redelivered events are ignored by their (origin, event id)).
 * Operations run one at a time.
 */
export class AnalyticsStore {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
  ) {}

  /** Opens (or creates) the store at `path` (a file; `:memory:` for a throwaway one). */
  static async open(path: string): Promise<AnalyticsStore> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path);
    } catch (e) {
      throw new AnalyticsError('STORE', `cannot open the analytics store ${path}`, { cause: e });
    }
    const db = await instance.connect();
    for (const sql of SCHEMA_SQL) await db.run(sql);
    return new AnalyticsStore(instance, db);
  }

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async rows(sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
    return (await this.db.runAndReadAll(sql, params)).getRowObjectsJS();
  }

  /** The inbox sequence up to which everything was taken in (0: nothing yet). */
  position(consumer = 'inbox'): Promise<number> {
    return this.exclusive(async () => {
      const [row] = await this.rows('SELECT seq FROM wbx_position WHERE consumer = $1', [consumer]);
      return row === undefined ? 0 : Number(row.seq);
    });
  }

  /**
   * Keeps `items` and moves the consumer's position to `position`, in one transaction. An item whose
   * (origin, event id) is kept already is ignored (a redelivery). Returns how many were new. Set-wise:
   * the aggregates in two statements (duplicates dropped in the batch and by an anti-join on the event
   * id), runs of records in a few; correction and withdrawal notices (rare) one at a time, in order.
   */
  write(items: readonly StoreItem[], position: number, consumer = 'inbox'): Promise<number> {
    return this.exclusive(async () => {
      await this.db.run('BEGIN TRANSACTION');
      try {
        let added = await this.insertAggregates(items.filter((i) => i.kind === 'aggregate'));
        let records: RecordItem[] = [];
        for (const item of items) {
          if (item.kind === 'record') records.push(item);
          else if (item.kind === 'change') {
            added += await this.insertRecords(records);
            records = [];
            if (await this.insertChange(item)) added += 1;
          }
        }
        added += await this.insertRecords(records);
        await this.db.run(
          `INSERT INTO wbx_position VALUES ($1, $2) ON CONFLICT (consumer)
           DO UPDATE SET seq = greatest(wbx_position.seq, excluded.seq)`,
          [consumer, position],
        );
        await this.db.run('COMMIT');
        return added;
      } catch (e) {
        await this.db.run('ROLLBACK').catch(() => undefined);
        throw new AnalyticsError('STORE', 'cannot write to the analytics store', { cause: e });
      }
    });
  }

  /** Aggregates as vintages, each (origin, event id) once: the first in the batch, if not kept yet. */
  private async insertAggregates(items: readonly AggregateItem[]): Promise<number> {
    const vintages = new Map<string, Record<string, unknown>>();
    const figures: Record<string, unknown>[] = [];
    for (const item of items) {
      const p = item.provenance;
      const key = JSON.stringify([p.origin, p.eventId]);
      if (vintages.has(key)) continue;
      vintages.set(key, {
        origin: p.origin,
        event_id: p.eventId,
        agreement_id: p.agreementId,
        indicator: item.sourceType,
        period: item.period,
        dimension_set: dimensionSetKey(item.dimensions),
        unit: unitOf(item.sourceType, item.dimensions),
        min_cell: item.minCell,
        kid: p.kid,
        issued: Date.parse(p.issuedAt),
        verified: Date.parse(p.verifiedAt),
        inbox_seq: p.inboxSeq,
        token: item.token,
      });
      for (const cell of item.cells) {
        const dimensions = Object.fromEntries(item.dimensions.map((d, i) => [d, cell.values[i] ?? '']));
        const flags = [
          ...(cell.suppressed ? ['suppressed'] : []),
          ...(cell.suppressed && cell.secondary === true ? ['secondary'] : []),
          ...(cell.flags ?? []),
        ];
        figures.push({
          origin: p.origin,
          event_id: p.eventId,
          cell: cellKey(dimensions),
          dimensions: JSON.stringify(dimensions),
          value: cell.suppressed ? null : cell.count,
          suppressed: cell.suppressed,
          flags: [...new Set(flags)],
        });
      }
    }
    if (vintages.size === 0) return 0;
    // The cells first: the anti-join on wbx_vintages still sees only the vintages kept before.
    await this.db.run(
      `INSERT INTO wbx_figures
       SELECT s.origin, s.event_id, s.cell, s.dimensions, s.value, s.suppressed, s.flags
       FROM ${staged(FIGURE_STAGE)}
       ANTI JOIN wbx_vintages v USING (origin, event_id)`,
      [JSON.stringify(figures)],
    );
    const inserted = await this.db.run(
      `INSERT INTO wbx_vintages SELECT s.origin, s.event_id, s.agreement_id, s.indicator, s.period,
         s.dimension_set, s.unit, s.min_cell, s.kid, to_timestamp(s.issued / 1000.0),
         to_timestamp(s.verified / 1000.0), s.inbox_seq, s.token
       FROM ${staged(VINTAGE_STAGE)} ANTI JOIN wbx_vintages v USING (origin, event_id)`,
      [JSON.stringify([...vintages.values()])],
    );
    return inserted.rowsChanged;
  }

  /**
   * A run of records, as one at a time would keep them: a record not kept is inserted; a later version
   * (a correction carries the original's event id, re-sealed) with a newer token replaces the claims;
   * the same token again, or an older version, is a redelivery. The kept versions are read at once, the
   * run is folded here, then inserted and updated set-wise.
   */
  private async insertRecords(items: readonly RecordItem[]): Promise<number> {
    if (items.length === 0) return 0;
    const keyOf = (p: Provenance): string => JSON.stringify([p.origin, p.eventId]);
    const keys = [...new Map(items.map((i) => [keyOf(i.provenance), i.provenance])).values()];
    const kept = await this.rows(
      `SELECT r.origin, r.event_id, r.token, epoch_ms(r.issued_at) AS issued_ms
       FROM wbx_records r SEMI JOIN ${staged('origin VARCHAR, event_id VARCHAR')} USING (origin, event_id)`,
      [JSON.stringify(keys.map((p) => ({ origin: p.origin, event_id: p.eventId })))],
    );
    const state = new Map<string, { token: string; issued: number; stored: boolean }>();
    for (const r of kept) {
      state.set(JSON.stringify([String(r.origin), String(r.event_id)]), {
        token: String(r.token),
        issued: Number(r.issued_ms),
        stored: true,
      });
    }
    const inserts = new Map<string, Record<string, unknown>>();
    const updates = new Map<string, Record<string, unknown>>();
    let added = 0;
    for (const item of items) {
      const p = item.provenance;
      const key = keyOf(p);
      const issued = Date.parse(p.issuedAt);
      const known = state.get(key);
      if (known !== undefined && (known.token === item.token || known.issued > issued)) continue;
      const row = {
        origin: p.origin,
        event_id: p.eventId,
        type: item.type,
        agreement_id: p.agreementId,
        kid: p.kid,
        occurred_at: typeof item.claims.occurredAt === 'string' ? item.claims.occurredAt : null,
        issued,
        verified: Date.parse(p.verifiedAt),
        inbox_seq: p.inboxSeq,
        claims: JSON.stringify(item.claims),
        token: item.token,
      };
      (known?.stored === true ? updates : inserts).set(key, row);
      state.set(key, { token: item.token, issued, stored: known?.stored ?? false });
      added += 1;
    }
    if (inserts.size > 0) {
      await this.db.run(
        `INSERT INTO wbx_records (origin, event_id, type, agreement_id, kid, occurred_at, issued_at,
           verified_at, inbox_seq, claims, token)
         SELECT s.origin, s.event_id, s.type, s.agreement_id, s.kid, s.occurred_at,
           to_timestamp(s.issued / 1000.0), to_timestamp(s.verified / 1000.0), s.inbox_seq, s.claims, s.token
         FROM ${staged(RECORD_STAGE)}`,
        [JSON.stringify([...inserts.values()])],
      );
    }
    if (updates.size > 0) {
      await this.db.run(
        `UPDATE wbx_records SET type = s.type, agreement_id = s.agreement_id, kid = s.kid,
           occurred_at = s.occurred_at, issued_at = to_timestamp(s.issued / 1000.0),
           verified_at = to_timestamp(s.verified / 1000.0), inbox_seq = s.inbox_seq, claims = s.claims,
           token = s.token
         FROM ${staged(RECORD_STAGE)}
         WHERE wbx_records.origin = s.origin AND wbx_records.event_id = s.event_id`,
        [JSON.stringify([...updates.values()])],
      );
    }
    return added;
  }

  /** A correction or withdrawal notice: kept, and the record it names marked (withdrawn, or changed). */
  private async insertChange(item: Extract<StoreItem, { kind: 'change' }>): Promise<boolean> {
    const p = item.provenance;
    const seen = await this.rows('SELECT 1 FROM wbx_changes WHERE origin = $1 AND event_id = $2', [
      p.origin,
      p.eventId,
    ]);
    if (seen.length > 0) return false;
    await this.db.run(
      `INSERT INTO wbx_changes VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0),
        to_timestamp($9 / 1000.0), $10, $11)`,
      [
        p.origin,
        p.eventId,
        item.type,
        item.originalEventId,
        item.reason ?? null,
        p.agreementId,
        p.kid,
        Date.parse(p.issuedAt),
        Date.parse(p.verifiedAt),
        p.inboxSeq,
        item.token,
      ],
    );
    await this.db.run(
      `UPDATE wbx_records SET changed_by = $3, withdrawn = withdrawn OR $4
       WHERE origin = $1 AND event_id = $2`,
      [p.origin, item.originalEventId, p.eventId, item.type === 'record.withdrawal'],
    );
    return true;
  }

  /** The figures of the latest vintage of each series as of `q.asOf` (default: now). */
  figures(q: FigureQuery = {}): Promise<Figure[]> {
    return this.exclusive(async () => {
      const { sql, params } = latestFiguresSql(q);
      return (await this.rows(sql, params)).map(figureOf);
    });
  }

  /** Every vintage of one cell, oldest first. */
  vintages(cell: CellRef): Promise<Figure[]> {
    return this.exclusive(async () => this.cellRows(cell, undefined));
  }

  /**
   * The cell as the latest vintage of its series issued at or before `time` shows it; undefined when
   * there was none then, or that vintage does not list the cell.
   */
  valueAsOf(cell: CellRef, time: Date): Promise<Figure | undefined> {
    return this.exclusive(async () => {
      const params: DuckDBValue[] = [
        cell.origin,
        cell.agreementId,
        cell.indicator,
        cell.period,
        dimensionSetKey(Object.keys(cell.dimensions)),
        time.getTime(),
      ];
      const [latest] = await this.rows(
        `SELECT event_id FROM wbx_vintages WHERE origin = $1 AND agreement_id = $2 AND indicator = $3
          AND period = $4 AND dimension_set = $5 AND issued_at <= to_timestamp($6 / 1000.0)
         ORDER BY issued_at DESC, event_id DESC LIMIT 1`,
        params,
      );
      if (latest === undefined) return undefined;
      const [row] = await this.rows(
        `SELECT ${FIGURE_COLUMNS} FROM wbx_vintages v JOIN wbx_figures f USING (origin, event_id)
         WHERE v.origin = $1 AND v.event_id = $2 AND f.cell = $3`,
        [cell.origin, String(latest.event_id), cellKey(cell.dimensions)],
      );
      return row === undefined ? undefined : figureOf(row);
    });
  }

  private async cellRows(cell: CellRef, time: Date | undefined): Promise<Figure[]> {
    const rows = await this.rows(
      `SELECT ${FIGURE_COLUMNS} FROM wbx_vintages v JOIN wbx_figures f USING (origin, event_id)
       WHERE v.origin = $1 AND v.agreement_id = $2 AND v.indicator = $3 AND v.period = $4
         AND v.dimension_set = $5 AND f.cell = $6 AND v.issued_at <= to_timestamp($7 / 1000.0)
       ORDER BY v.issued_at, v.event_id`,
      [
        cell.origin,
        cell.agreementId,
        cell.indicator,
        cell.period,
        dimensionSetKey(Object.keys(cell.dimensions)),
        cellKey(cell.dimensions),
        (time ?? new Date(8.64e15)).getTime(),
      ],
    );
    return rows.map(figureOf);
  }

  /** The records kept, optionally of one type and origin, in inbox order; withdrawn ones only if asked. */
  records(q: { type?: string; origin?: string; withdrawn?: boolean } = {}): Promise<StoredRecord[]> {
    return this.exclusive(async () => {
      const params: DuckDBValue[] = [];
      const conditions = q.withdrawn === true ? ['TRUE'] : ['NOT withdrawn'];
      if (q.type !== undefined) conditions.push(`type = $${params.push(q.type)}`);
      if (q.origin !== undefined) conditions.push(`origin = $${params.push(q.origin)}`);
      const rows = await this.rows(
        `SELECT origin, event_id, type, agreement_id, kid, epoch_ms(issued_at) AS issued_ms,
           epoch_ms(verified_at) AS verified_ms, inbox_seq, claims, changed_by, withdrawn
         FROM wbx_records WHERE ${conditions.join(' AND ')} ORDER BY inbox_seq`,
        params,
      );
      return rows.map((r) => ({
        type: String(r.type),
        claims: JSON.parse(String(r.claims)) as Record<string, unknown>,
        provenance: provenanceOf(r),
        ...(typeof r.changed_by === 'string' ? { changedBy: r.changed_by } : {}),
        withdrawn: r.withdrawn === true,
      }));
    });
  }

  /** The sealed token of an aggregate or record and its provenance, or undefined. */
  provenance(origin: string, eventId: string): Promise<(Provenance & { token: string }) | undefined> {
    return this.exclusive(async () => {
      for (const table of ['wbx_vintages', 'wbx_records', 'wbx_changes']) {
        const [r] = await this.rows(
          `SELECT origin, event_id, agreement_id, kid, epoch_ms(issued_at) AS issued_ms,
             epoch_ms(verified_at) AS verified_ms, inbox_seq, token
           FROM ${table} WHERE origin = $1 AND event_id = $2`,
          [origin, eventId],
        );
        if (r !== undefined) return { ...provenanceOf(r), token: String(r.token) };
      }
      return undefined;
    });
  }

  /** Runs a read-only query on the store and returns its rows as JS objects (the dashboard's views). */
  select(sql: string, params: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    return this.exclusive(() => this.rows(sql, params));
  }

  /** Runs a statement on the store (exports: COPY … TO). */
  run(sql: string, params: DuckDBValue[] = []): Promise<void> {
    return this.exclusive(async () => {
      await this.db.run(sql, params);
    });
  }

  async close(): Promise<void> {
    await this.exclusive(() => {
      this.db.closeSync();
      this.instance.closeSync();
      return Promise.resolve();
    });
  }
}
