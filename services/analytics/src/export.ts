import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { figuresCsv } from './csv-export.js';
import { AnalyticsError } from './errors.js';
import { figuresSdmxCsv, type SdmxCsvOptions } from './sdmx-csv.js';
import { latestFiguresSql, type AnalyticsStore, type FigureQuery } from './store.js';

export const EXPORT_FORMATS = ['csv', 'json', 'parquet', 'sdmx-csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(text: string): text is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(text);
}

/** The media type of an export. */
export const EXPORT_MEDIA_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8; header=present',
  json: 'application/json',
  parquet: 'application/vnd.apache.parquet',
  'sdmx-csv': 'application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8',
};

export interface ExportOptions extends FigureQuery {
  readonly sdmx?: SdmxCsvOptions;
}

/**
 * Writes the latest figures as of `q.asOf` to `file` as Parquet (DuckDB's COPY), one row per figure:
 * the long CSV's columns, `flags` as a list, times as timestamps.
 */
export async function writeParquet(store: AnalyticsStore, file: string, q: FigureQuery = {}): Promise<void> {
  const { sql, params } = latestFiguresSql(q);
  const quoted = `'${file.replaceAll("'", "''")}'`;
  try {
    await store.run(
      `CREATE OR REPLACE TEMP TABLE wbx_export AS
       SELECT period, origin, indicator, dimensions, CAST(value AS BIGINT) AS value, unit, flags,
         agreement_id, event_id, kid, make_timestamp(issued_ms * 1000) AS issued_at,
         make_timestamp(verified_ms * 1000) AS verified_at
       FROM (${sql})`,
      params,
    );
    await store.run(`COPY wbx_export TO ${quoted} (FORMAT parquet)`);
  } catch (e) {
    throw new AnalyticsError('STORE', 'cannot write the Parquet export', { cause: e });
  } finally {
    await store.run('DROP TABLE IF EXISTS wbx_export').catch(() => undefined);
  }
}

/** The latest figures as of `q.asOf` in `format`: text, or the bytes of a Parquet file. */
export async function exportFigures(
  store: AnalyticsStore,
  format: ExportFormat,
  q: ExportOptions = {},
): Promise<string | Uint8Array> {
  if (format === 'parquet') {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-analytics-'));
    try {
      const file = join(dir, 'figures.parquet');
      await writeParquet(store, file, q);
      return new Uint8Array(await readFile(file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const figures = await store.figures(q);
  switch (format) {
    case 'csv':
      return figuresCsv(figures);
    case 'sdmx-csv':
      return figuresSdmxCsv(figures, q.sdmx);
    case 'json':
      return `${JSON.stringify({ asOf: (q.asOf ?? new Date()).toISOString(), figures }, null, 1)}\n`;
    default:
      throw new AnalyticsError('INVALID_ARGUMENT', `unknown export format ${String(format)}`);
  }
}
