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
  /**
   * How many batches are written at once (default 1): the disclosures that come while they are written
   * wait, and make the next batch (group commit).
   */
  readonly inFlight?: number;
}

/** A disclosure waiting for its batch, and whoever waits for its entry. */
interface Waiting {
  readonly record: DisclosureRecord;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Records disclosures of single events in as few audit entries as keeps every one of them (group commit):
 * the disclosures that come while the previous batch is being written (or, when none is, within one turn
 * of the event loop) make one batch, and those of a batch with the same recipient, agreement, type, paths,
 * mode, purpose and reason become one entry listing their event ids (split at MAX_EVENT_IDS; a lone one
 * stays an entry of its own, named by its event). Each `append` resolves only when the entry that lists
 * its event is stored, so whoever waits for it (to publish a presentation, to acknowledge an event) still
 * waits for the audit; it rejects if that entry could not be stored. Under load the audit stream gets one
 * append per group and round trip where it got one an event; at a trickle nothing waits longer than a
 * turn.
 *
 * A record that already lists its events (`eventIds`) is one call's and goes to {@link appendCovering}.
 */
export class AuditBatcher implements AuditSink {
  private readonly prefix: string;
  private readonly inFlight: number;
  private waiting: Waiting[] = [];
  private writing = 0;
  private scheduled = false;

  constructor(
    private readonly sink: AuditSink,
    options: AuditBatcherOptions = {},
  ) {
    this.prefix = options.prefix ?? 'batch';
    this.inFlight = Math.max(1, options.inFlight ?? 1);
  }

  /** The sink's failure: see {@link AuditSink.failure}. */
  get failure(): AuditError | undefined {
    return this.sink.failure;
  }

  append(record: DisclosureRecord): Promise<void> {
    if (record.eventIds !== undefined)
      return appendCovering(this.sink, { ...record, eventIds: record.eventIds });
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      if (this.scheduled || this.writing >= this.inFlight) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.writing < this.inFlight) this.flush();
      });
    });
  }

  /** Appends what is waiting now, whatever is being written. */
  flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    this.writing += 1;
    void this.write(batch).finally(() => {
      this.writing -= 1;
      // What came meanwhile: written now, a turn or more after it came.
      if (!this.scheduled && this.writing < this.inFlight) this.flush();
    });
  }

  /** One batch's disclosures, grouped (in the order the groups began) and written one entry a group. */
  private async write(batch: readonly Waiting[]): Promise<void> {
    const groups = new Map<string, Waiting[]>();
    for (const w of batch) {
      const r = w.record;
      const key = [r.recipient, r.agreementId, r.eventType, r.mode, r.purpose, r.reason, ...r.paths].join(
        '\u0000',
      );
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [w]);
      else group.push(w);
    }
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const [first] = group;
        if (first === undefined) return;
        try {
          const eventIds = [...new Set(group.map((w) => w.record.eventId))];
          if (eventIds.length === 1) await this.sink.append(first.record);
          else {
            const eventId = `${this.prefix}-${randomUUID()}`;
            await appendCovering(this.sink, { ...first.record, eventId, eventIds });
          }
          for (const w of group) w.resolve();
        } catch (e) {
          for (const w of group) w.reject(e);
        }
      }),
    );
  }
}
