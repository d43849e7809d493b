import { randomUUID } from 'node:crypto';

import { MAX_EVENT_IDS, type DisclosureRecord } from './entry.js';
import type { AuditError } from './errors.js';

/** Where disclosures are recorded: the partner's AuditLog, or an AuditBatcher in front of it. */
export interface AuditSink {
  /** Resolves once the entry is durably stored; nothing may be disclosed before. */
  append(record: DisclosureRecord): Promise<unknown>;
  /** Set when the log failed for good (its chain is broken): every append is refused from then on. */
  readonly failure?: AuditError | undefined;
}

/** One call's disclosure of many events (a page of a query answer, the hits of a match). */
export interface CoveringRecord extends DisclosureRecord {
  /** The events disclosed, any number; `eventId` names the call. */
  readonly eventIds: readonly string[];
}

/**
 * Records one call's disclosure of many events in as few entries as the cap allows: one entry per
 * {@link MAX_EVENT_IDS} of its event ids, in order, each named by the call's `eventId` (a call that
 * disclosed no event still gets its one entry, listing none). Resolves once every entry is stored.
 */
export async function appendCovering(sink: AuditSink, record: CoveringRecord): Promise<void> {
  const { eventIds } = record;
  const parts: (readonly string[])[] = [];
  for (let i = 0; i < eventIds.length; i += MAX_EVENT_IDS) parts.push(eventIds.slice(i, i + MAX_EVENT_IDS));
  if (parts.length === 0) parts.push([]);
  await Promise.all(parts.map((ids) => sink.append({ ...record, eventIds: ids })));
}

export interface AuditBatcherOptions {
  /** The grouped entries are named `<prefix>-<uuid>` (default `batch`), e.g. `share` for sharing. */
  readonly prefix?: string;
}

interface Group {
  readonly record: DisclosureRecord;
  readonly eventIds: string[];
  readonly waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/**
 * Records disclosures of single events in as few audit entries as keeps every one of them: the
 * disclosures of one turn of the event loop that have the same recipient, agreement, type, paths, mode,
 * purpose and reason become one entry listing their event ids (at most MAX_EVENT_IDS, then a new entry
 * begins; a lone one stays an entry of its own, named by its event). Each `append` resolves only when the
 * entry that lists its event is stored, so whoever waits for it (to publish a presentation, to acknowledge
 * an event) still waits for the audit. Under load a turn carries many events and the audit stream gets
 * one append where it got one an event; at a trickle nothing waits longer than that turn.
 *
 * A record that already lists its events (`eventIds`) is one call's and goes to {@link appendCovering}.
 */
export class AuditBatcher implements AuditSink {
  private readonly groups = new Map<string, Group>();
  private scheduled = false;
  private readonly prefix: string;

  constructor(
    private readonly sink: AuditSink,
    options: AuditBatcherOptions = {},
  ) {
    this.prefix = options.prefix ?? 'batch';
  }

  /** The sink's failure: see {@link AuditSink.failure}. */
  get failure(): AuditError | undefined {
    return this.sink.failure;
  }

  append(record: DisclosureRecord): Promise<void> {
    const { recipient, agreementId, eventType, mode, purpose, reason, paths, eventIds } = record;
    if (eventIds !== undefined) return appendCovering(this.sink, { ...record, eventIds });
    const key = [recipient, agreementId, eventType, mode, purpose, reason, ...paths].join('\u0000');
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { record, eventIds: [], waiters: [] };
      this.groups.set(key, group);
    }
    group.eventIds.push(record.eventId);
    const done = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    if (group.eventIds.length >= MAX_EVENT_IDS) {
      this.groups.delete(key);
      this.write(group);
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  /** Appends every group now (in the order they began). */
  flush(): void {
    this.scheduled = false;
    const groups = [...this.groups.values()];
    this.groups.clear();
    for (const g of groups) this.write(g);
  }

  private write(g: Group): void {
    const { record, eventIds, waiters } = g;
    const entry: DisclosureRecord =
      eventIds.length === 1
        ? record
        : { ...record, eventId: `${this.prefix}-${randomUUID()}`, eventIds: [...new Set(eventIds)] };
    this.sink.append(entry).then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (e: unknown) => {
        for (const w of waiters) w.reject(e);
      },
    );
  }
}
