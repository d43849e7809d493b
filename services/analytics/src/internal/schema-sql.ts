/**
 * The tables of the analytics store (DuckDB). Figures are long: one row per cell of a vintage, its
 * dimensions as data (a JSON object) and its flags as a list, so that new indicators, dimensions and
 * flags need no new column.
 */
export const SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS wbx_position (
    consumer VARCHAR PRIMARY KEY,
    seq UBIGINT NOT NULL
  )`,
  // One row per verified stats.aggregate: a vintage of the series (origin, agreement, indicator, period,
  // dimension set). Its token is kept: the sealed aggregate itself is the provenance.
  `CREATE TABLE IF NOT EXISTS wbx_vintages (
    origin VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    agreement_id VARCHAR NOT NULL,
    indicator VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    dimension_set VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,
    min_cell INTEGER NOT NULL,
    kid VARCHAR NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    verified_at TIMESTAMPTZ NOT NULL,
    inbox_seq UBIGINT NOT NULL,
    token VARCHAR NOT NULL,
    PRIMARY KEY (origin, event_id)
  )`,
  // One row per cell of a vintage. A suppressed cell has value NULL (never 0) and suppressed true.
  `CREATE TABLE IF NOT EXISTS wbx_figures (
    origin VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    cell VARCHAR NOT NULL,
    dimensions VARCHAR NOT NULL,
    value BIGINT,
    suppressed BOOLEAN NOT NULL,
    flags VARCHAR[] NOT NULL,
    PRIMARY KEY (origin, event_id, cell)
  )`,
  // Records received where an agreement allows them: their verified claims, as JSON.
  `CREATE TABLE IF NOT EXISTS wbx_records (
    origin VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    agreement_id VARCHAR NOT NULL,
    kid VARCHAR NOT NULL,
    occurred_at VARCHAR,
    issued_at TIMESTAMPTZ NOT NULL,
    verified_at TIMESTAMPTZ NOT NULL,
    inbox_seq UBIGINT NOT NULL,
    claims VARCHAR NOT NULL,
    token VARCHAR NOT NULL,
    -- The last correction or withdrawal notice applied to it, and whether it was withdrawn.
    changed_by VARCHAR,
    withdrawn BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (origin, event_id)
  )`,
  // Corrections and withdrawals (record.correction / record.withdrawal notices) as received: the
  // record they change is updated (corrected claims) or marked withdrawn, never silently dropped.
  `CREATE TABLE IF NOT EXISTS wbx_changes (
    origin VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    original_event_id VARCHAR NOT NULL,
    reason VARCHAR,
    agreement_id VARCHAR NOT NULL,
    kid VARCHAR NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    verified_at TIMESTAMPTZ NOT NULL,
    inbox_seq UBIGINT NOT NULL,
    token VARCHAR NOT NULL,
    PRIMARY KEY (origin, event_id)
  )`,
];
