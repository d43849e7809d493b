import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { AUDIT_STREAM, auditSubject, decodeAuditEntry, type DisclosureRecord } from '@wbx/audit';

/** The entries looked up: records and aggregates shared, and recipients' acknowledgements of changes. */
const LISTED_MODES = new Set<string>(['records', 'aggregate', 'ack']);

/** A cache of the chain unused for this long is dropped: redeliveries come in bursts. */
const IDLE_MS = 30_000;
/** Read from this long before an event was stored: the servers' clocks may differ a little. */
const CLOCK_MARGIN_MS = 5_000;
/**
 * Events the cache may list at most. Redeliveries that keep coming (never idle for IDLE_MS) would
 * otherwise keep every entry appended since: past this, the cache starts over from the next caller's
 * event (it is only a copy of the chain, which is read again).
 */
export const MAX_CACHED_EVENTS = 100_000;

/** What makes two records disclosures of one event the same: recipient, agreement, type and paths. */
export function disclosureKey(
  r: Pick<DisclosureRecord, 'recipient' | 'agreementId' | 'eventType' | 'paths'>,
) {
  return [r.recipient, r.agreementId, r.eventType, ...r.paths].join('\u0000');
}

/**
 * The records disclosures the audit chain already lists, for events delivered again: another replica, or
 * this one before a crash, may have audited the event and then failed to publish or to acknowledge it.
 * Aggregates too (mode `aggregate`), for a vintage whose claimer died after auditing it (aggregator.ts),
 * and acknowledgements of corrections and withdrawals (mode `ack`, record-change-share.ts).
 * The chain is read from the oldest such event's storage time on (no entry for an event can be older),
 * and after that only what was appended since.
 */
export class AuditedDisclosures {
  private byEvent = new Map<string, Set<string>>();
  /** The storage time (ms) the cache was read from; Infinity: nothing read. */
  private since = Number.POSITIVE_INFINITY;
  /** The next WBX_AUDIT sequence to read; 0: not found yet. */
  private nextSeq = 0;
  private usedAt = 0;
  /** The read under way, and the one that starts after it for the callers that came meanwhile. */
  private running: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private oldest = Number.POSITIVE_INFINITY;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly origin: string,
  ) {}

  /** Whether the chain lists disclosure `key` of `eventId`, an event stored at `storedAt` (ms). */
  async has(eventId: string, key: string, storedAt: number): Promise<boolean> {
    this.oldest = Math.min(this.oldest, storedAt);
    // Every caller waits for a read that starts after it came; those that come together share one.
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      const oldest = this.oldest;
      this.oldest = Number.POSITIVE_INFINITY;
      return this.catchUp(oldest);
    });
    const read = this.queued;
    this.running = read.catch(() => undefined);
    await read;
    return this.byEvent.get(eventId)?.has(key) === true;
  }

  private async catchUp(storedAt: number): Promise<void> {
    if (
      Date.now() - this.usedAt > IDLE_MS ||
      storedAt < this.since ||
      this.byEvent.size > MAX_CACHED_EVENTS
    ) {
      this.byEvent = new Map();
      this.since = storedAt - CLOCK_MARGIN_MS;
      this.nextSeq = 0;
    }
    this.usedAt = Date.now();
    const subject = auditSubject(this.origin);
    const last = await this.jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject });
    if (last === null) return;
    if (this.nextSeq === 0) this.nextSeq = await this.firstSince(last);
    for (; this.nextSeq <= last.seq; this.nextSeq++) {
      const m = await this.jsm.streams.getMessage(AUDIT_STREAM, { seq: this.nextSeq });
      if (m?.subject === subject) this.add(m.data);
    }
  }

  /** The first sequence of WBX_AUDIT stored at or after `since` (a binary search on the stored times). */
  private async firstSince(last: StoredMsg): Promise<number> {
    if (last.time.getTime() < this.since) return last.seq + 1;
    let lo = (await this.jsm.streams.info(AUDIT_STREAM)).state.first_seq;
    let hi = last.seq;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await this.jsm.streams.getMessage(AUDIT_STREAM, { seq: mid });
      if (m !== null && m.time.getTime() >= this.since) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private add(data: Uint8Array): void {
    let entry;
    try {
      entry = decodeAuditEntry(data);
    } catch {
      return; // not an entry: `wbx audit verify` reports it
    }
    if (entry.kind !== 'disclosure' || !LISTED_MODES.has(entry.mode)) return;
    const key = disclosureKey(entry);
    for (const id of entry.eventIds ?? [entry.eventId]) {
      const keys = this.byEvent.get(id) ?? new Set<string>();
      keys.add(key);
      this.byEvent.set(id, keys);
    }
  }
}
