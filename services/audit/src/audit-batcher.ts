import { randomUUID } from 'node:crypto';

import { TurnBatcher } from '@wbx/turn';

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
  private readonly prefix: string;
  private readonly turn: TurnBatcher<DisclosureRecord, undefined>;

  constructor(
    private readonly sink: AuditSink,
    options: AuditBatcherOptions = {},
  ) {
    this.prefix = options.prefix ?? 'batch';
    this.turn = new TurnBatcher<DisclosureRecord, undefined>({
      maxBatch: MAX_EVENT_IDS,
      minBatch: 1,
      pooled: (records) => this.write(records),
    });
  }

  /** The sink's failure: see {@link AuditSink.failure}. */
  get failure(): AuditError | undefined {
    return this.sink.failure;
  }

  append(record: DisclosureRecord): Promise<void> {
    if (record.eventIds !== undefined)
      return appendCovering(this.sink, { ...record, eventIds: record.eventIds });
    return this.turn.add(record);
  }

  /** Appends what is waiting now. */
  flush(): void {
    this.turn.flush();
  }

  /** One turn's disclosures, grouped (in the order the groups began) and written one entry a group. */
  private async write(records: readonly DisclosureRecord[]): Promise<undefined[]> {
    const groups = new Map<string, DisclosureRecord[]>();
    for (const r of records) {
      const key = [r.recipient, r.agreementId, r.eventType, r.mode, r.purpose, r.reason, ...r.paths].join(
        '\u0000',
      );
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [r]);
      else group.push(r);
    }
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const [first] = group;
        if (first === undefined) return;
        if (group.length === 1) {
          await this.sink.append(first);
          return;
        }
        const eventIds = [...new Set(group.map((r) => r.eventId))];
        await appendCovering(this.sink, { ...first, eventId: `${this.prefix}-${randomUUID()}`, eventIds });
      }),
    );
    return records.map(() => undefined);
  }
}
