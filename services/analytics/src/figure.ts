import type { Unit } from './units.js';

/**
 * Flags of a figure, as data (not columns), so that new kinds fit: `suppressed` (primary, below the
 * origin's minCell), `secondary` (suppressed to protect another cell), `provisional`, `rounded`, … The
 * origin's own per-cell flags (`cell.flags`) are kept as they come.
 */
export type Flag = string;

/** Where a figure comes from: the sealed aggregate (or record) that carries it, verified by this node. */
export interface Provenance {
  readonly origin: string;
  readonly eventId: string;
  /** The key the origin signed with (`<partner>#<key id>`). */
  readonly kid: string;
  /** The agreement it was received under (the first, by id, of those covering it). */
  readonly agreementId: string;
  /** When the origin sealed it (`iat`): the vintage's time. */
  readonly issuedAt: string;
  /** When this node verified it. */
  readonly verifiedAt: string;
  /** Its sequence in the gateway's WBX_INBOX. */
  readonly inboxSeq: number;
}

/** One cell of a series: origin, agreement, indicator, period and the values of its dimensions. */
export interface CellRef {
  readonly origin: string;
  readonly agreementId: string;
  readonly indicator: string;
  readonly period: string;
  /** Dimension name → value, e.g. `{ routeSegment: 'GR-MK', 'persons.citizenship': 'SYR' }`. */
  readonly dimensions: Readonly<Record<string, string>>;
}

/** A figure as one vintage of an aggregate publishes it. A suppressed cell has no value (never 0). */
export interface Figure extends CellRef {
  readonly value: number | null;
  readonly unit: Unit;
  readonly suppressed: boolean;
  /**
   * The origin's minCell: a cell below it is suppressed (a cell hidden by secondary suppression may hold
   * more: it travels suppressed with `secondary: true`, kept as the flag `secondary`).
   */
  readonly minCell: number;
  readonly flags: readonly Flag[];
  readonly provenance: Provenance;
}

/** Canonical text of a cell's dimensions: the JSON of its entries sorted by name. */
export function cellKey(dimensions: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The canonical text of a dimension set: the names, sorted, as JSON. */
export function dimensionSetKey(dimensions: readonly string[]): string {
  return JSON.stringify([...dimensions].sort());
}
