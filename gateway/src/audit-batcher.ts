import { randomUUID } from 'node:crypto';

import { MAX_EVENT_IDS, type AuditError, type DisclosureRecord } from '@wbx/audit';

/** Where disclosures are recorded: the partner's AuditLog. */
export interface AuditSink {
  /** Resolves once the entry is durably stored; nothing may be disclosed before. */
  append(record: DisclosureRecord): Promise<unknown>;
  /** Set when the log failed for good (its chain is broken): every append is refused from then on. */
  readonly failure?: AuditError | undefined;
}

interface Group {
  readonly record: DisclosureRecord;
  readonly eventIds: string[];
  readonly waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/**
 * Records the share worker's disclosures in as few audit entries as keeps every one of them: the
 * disclosures of one turn of the event loop that have the same recipient, agreement, type, paths and mode
 * become one entry listing their event ids (at most MAX_EVENT_IDS; a lone one stays an entry of its own,
 * as before). Each `record` resolves only when the entry that lists its event is stored, so an event is
 * still acknowledged only after its audit. Under load a turn carries many events and the audit stream
 * gets one append where it got one an event; at a trickle nothing waits longer than that turn.
 */
export class AuditBatcher implements AuditSink {
  private readonly groups = new Map<string, Group>();
  private scheduled = false;

  constructor(private readonly sink: AuditSink) {}

  /** The sink's failure: see {@link AuditSink.failure}. */
  get failure(): AuditError | undefined {
    return this.sink.failure;
  }

  append(record: DisclosureRecord): Promise<void> {
    const key = [record.recipient, record.agreementId, record.eventType, record.mode, record.purpose ?? '', ...record.paths].join('\u0000'); // prettier-ignore
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
        : { ...record, eventId: `share-${randomUUID()}`, eventIds: [...new Set(eventIds)] };
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
