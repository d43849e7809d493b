import type { AuditEntry, DisclosureMode } from './entry.js';
import type { AuditSource } from './verify.js';

export interface AuditReportFilter {
  /** Only disclosures to this partner. */
  readonly recipient?: string;
  /** Only disclosures at or after this instant. */
  readonly from?: Date;
  /** Only disclosures before this instant. */
  readonly to?: Date;
}

/** What was disclosed to one recipient under one agreement, for one event type and mode. */
export interface AuditReportRow {
  readonly recipient: string;
  readonly agreementId: string;
  readonly eventType: string;
  readonly mode: DisclosureMode;
  /** Number of disclosures: events disclosed (an entry for a query page counts its events), or refusals. */
  readonly count: number;
  /** RFC 3339 of the first and the last disclosure. */
  readonly first: string;
  readonly last: string;
  /** Each disclosed path with the number of disclosures that included it, sorted by path. */
  readonly paths: readonly { readonly path: string; readonly count: number }[];
}

interface Group {
  readonly key: readonly [string, string, string, DisclosureMode];
  count: number;
  first: string;
  last: string;
  readonly paths: Map<string, number>;
}

const compare = (a: readonly string[], b: readonly string[]): number => {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
};

/**
 * Summarises the disclosure entries of a chain (checkpoints are skipped): one row per recipient,
 * agreement, event type and mode, sorted by those. It does not verify the chain; run
 * `verifyAuditChain` for that.
 */
export async function auditReport(
  entries: AuditSource<AuditEntry>,
  filter: AuditReportFilter = {},
): Promise<AuditReportRow[]> {
  const from = filter.from?.getTime() ?? Number.NEGATIVE_INFINITY;
  const to = filter.to?.getTime() ?? Number.POSITIVE_INFINITY;
  const groups = new Map<string, Group>();
  for await (const e of entries) {
    if (e.kind !== 'disclosure') continue;
    if (filter.recipient !== undefined && e.recipient !== filter.recipient) continue;
    const t = Date.parse(e.at);
    if (t < from || t >= to) continue;
    const key = [e.recipient, e.agreementId, e.eventType, e.mode] as const;
    const id = JSON.stringify(key);
    let g = groups.get(id);
    if (g === undefined) {
      g = { key, count: 0, first: e.at, last: e.at, paths: new Map() };
      groups.set(id, g);
    }
    // An entry that covers a page of events counts each of them.
    const n = e.eventIds?.length ?? 1;
    g.count += n;
    if (t < Date.parse(g.first)) g.first = e.at;
    if (t > Date.parse(g.last)) g.last = e.at;
    for (const p of e.paths) g.paths.set(p, (g.paths.get(p) ?? 0) + n);
  }
  return [...groups.values()]
    .sort((a, b) => compare(a.key, b.key))
    .map(({ key: [recipient, agreementId, eventType, mode], count, first, last, paths }) => ({
      recipient,
      agreementId,
      eventType,
      mode,
      count,
      first,
      last,
      paths: [...paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, n]) => ({ path, count: n })),
    }));
}
