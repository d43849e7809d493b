import { EUROSTAT_BORDER_TYPES, eurostatCitizen } from '@wbx/schema';

import type { Figure } from './figure.js';
import { csvLine } from './internal/csv.js';

/**
 * The dataflow WBX's SDMX-CSV files belong to: agency `WBX`, id `DF_WBX_MIGR`, version 1.0.0. Its
 * dimensions are FREQ, REF_AREA (the origin), INDICATOR (the aggregate's source type), one column per
 * breakdown of the figures exported (below), and TIME_PERIOD; its attributes UNIT_MEASURE, OBS_STATUS
 * and CONF_STATUS.
 */
export const SDMX_AGENCY = 'WBX';
export const SDMX_DATAFLOW_ID = 'DF_WBX_MIGR';
export const SDMX_DATAFLOW_VERSION = '1.0.0';

/** Breakdown columns of known WBX dimensions (Eurostat's names where Eurostat has one). */
const COLUMN_OF: Readonly<Record<string, string>> = {
  citizenship: 'CITIZEN',
  sex: 'SEX',
  ageBand: 'AGE',
  unaccompaniedMinor: 'UNACC_MINOR',
  routeSegment: 'ROUTE_SEGMENT',
  borderSection: 'BORDER_SECTION',
  borderType: 'BORDER',
};

/** Eurostat's age classes for WBX's age bands. */
const AGE_CODES: Readonly<Record<string, string>> = {
  '0-13': 'Y_LT14',
  '14-17': 'Y14-17',
  '18-34': 'Y18-34',
  '35-64': 'Y35-64',
  '65+': 'Y_GE65',
  unknown: 'UNK',
};

/** The SDMX-CSV column of a WBX dimension: a person attribute by its attribute name. */
export function sdmxColumn(dimension: string): string {
  const name = dimension.replace(/^persons?\./, '');
  return (
    COLUMN_OF[name] ??
    name
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/[^A-Za-z0-9]+/g, '_')
      .toUpperCase()
  );
}

/**
 * A dimension value as Eurostat codes it: citizenship by Eurostat's CITIZEN codelist (SY, EL, XK, STLS,
 * UNK — docs/eurostat-crosswalk.md), border types LAND/SEA/AIR, sex U as UNK, age classes as above.
 */
function sdmxValue(column: string, value: string): string {
  if (column === 'AGE') return AGE_CODES[value] ?? value;
  if (column === 'CITIZEN') return eurostatCitizen(value) ?? value;
  if (column === 'BORDER') return EUROSTAT_BORDER_TYPES[value] ?? value;
  if (column === 'SEX' && value === 'U') return 'UNK';
  if (value === 'unknown') return 'UNK';
  return value;
}

/** SDMX frequency of a period: `YYYY-MM` M, `YYYY-Www` W, `YYYY-MM-DD` D. */
export function sdmxFrequency(period: string): string {
  if (/^\d{4}-W\d{2}$/.test(period)) return 'W';
  if (/^\d{4}-\d{2}-\d{2}$/.test(period)) return 'D';
  return 'M';
}

/**
 * The confidentiality of a figure (SDMX CL_CONF_STATUS): F free, C primary confidential (suppressed by
 * the origin below its minCell), D secondary confidential (suppressed to protect another cell).
 */
export function confStatus(f: Figure): 'F' | 'C' | 'D' {
  if (!f.suppressed) return 'F';
  return f.flags.includes('secondary') ? 'D' : 'C';
}

/** SDMX CL_OBS_STATUS of a value: A normal, P provisional; none for a confidential cell (no value). */
function obsStatus(f: Figure): string {
  if (f.suppressed) return '';
  return f.flags.includes('provisional') ? 'P' : 'A';
}

const UNIT_CODES: Readonly<Record<string, string>> = { persons: 'PER' };

export interface SdmxCsvOptions {
  /** SDMX-CSV 2.0 (STRUCTURE, STRUCTURE_ID, ACTION columns; default) or 1.0 (a DATAFLOW column). */
  readonly version?: '1.0' | '2.0';
}

/**
 * The figures as SDMX-CSV: one observation per line; a confidential cell has an empty OBS_VALUE and
 * CONF_STATUS C (or D), never 0. A breakdown a figure does not have is `_Z` (not applicable).
 */
export function figuresSdmxCsv(figures: readonly Figure[], options: SdmxCsvOptions = {}): string {
  const v2 = (options.version ?? '2.0') === '2.0';
  const breakdowns = [
    ...new Set(figures.flatMap((f) => Object.keys(f.dimensions).map((d) => sdmxColumn(d)))),
  ].sort();
  const lead = v2 ? ['STRUCTURE', 'STRUCTURE_ID', 'ACTION'] : ['DATAFLOW'];
  const structure = v2
    ? ['dataflow', `${SDMX_AGENCY}:${SDMX_DATAFLOW_ID}(${SDMX_DATAFLOW_VERSION})`, 'I']
    : [`${SDMX_AGENCY}:${SDMX_DATAFLOW_ID}(${SDMX_DATAFLOW_VERSION.split('.').slice(0, 2).join('.')})`];
  let out = csvLine([
    ...lead,
    'FREQ',
    'REF_AREA',
    'INDICATOR',
    ...breakdowns,
    'TIME_PERIOD',
    'OBS_VALUE',
    'UNIT_MEASURE',
    'OBS_STATUS',
    'CONF_STATUS',
  ]);
  for (const f of figures) {
    const values = new Map(
      Object.entries(f.dimensions).map(([d, value]) => {
        const column = sdmxColumn(d);
        return [column, sdmxValue(column, value)];
      }),
    );
    out += csvLine([
      ...structure,
      sdmxFrequency(f.period),
      f.origin,
      f.indicator,
      ...breakdowns.map((b) => values.get(b) ?? '_Z'),
      f.period,
      f.suppressed ? null : f.value,
      UNIT_CODES[f.unit] ?? f.unit.toUpperCase(),
      obsStatus(f),
      confStatus(f),
    ]);
  }
  return out;
}
