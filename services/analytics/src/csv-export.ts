import type { Figure } from './figure.js';
import { csvLine } from './internal/csv.js';

/** The columns of the long CSV export, in order. */
export const CSV_COLUMNS = [
  'period',
  'origin',
  'indicator',
  'dimensions',
  'value',
  'unit',
  'flags',
  'agreement_id',
  'event_id',
  'kid',
  'issued_at',
  'verified_at',
] as const;

/** A figure's dimensions as one CSV field: `name=value` pairs joined by `;`, in the aggregate's order. */
export function dimensionsText(dimensions: Readonly<Record<string, string>>): string {
  return Object.entries(dimensions)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

/**
 * The long CSV export (RFC 4180, header line first): one line per figure, with its unit and flags
 * (`;`-separated, `suppressed` among them for a suppressed cell, whose value is left empty, never 0)
 * and its provenance.
 */
export function figuresCsv(figures: readonly Figure[]): string {
  let out = csvLine(CSV_COLUMNS);
  for (const f of figures) {
    const p = f.provenance;
    out += csvLine([
      f.period,
      f.origin,
      f.indicator,
      dimensionsText(f.dimensions),
      f.suppressed ? null : f.value,
      f.unit,
      f.flags.join(';'),
      f.agreementId,
      p.eventId,
      p.kid,
      p.issuedAt,
      p.verifiedAt,
    ]);
  }
  return out;
}
