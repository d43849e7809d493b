import { createHash } from 'node:crypto';

import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { aggregate, periodBounds, type AggregateGrant, type PolicyEvent } from '@wbx/agreements';
import type { AuditSink } from '@wbx/audit';
import { uuidV7, validateEvent, type EventType } from '@wbx/schema';
import type { Sealer } from '@wbx/seal';
import type { Logger } from 'pino';

import { shareStream, shareSubject } from './nats-layout.js';

interface Bucket {
  readonly grant: AggregateGrant;
  readonly sourceType: EventType;
  readonly period: string;
  readonly start: Date;
  readonly end: Date;
  readonly events: PolicyEvent[];
  lastAdded: number;
}

export interface AggregatorOptions {
  readonly partner: string;
  readonly js: JetStreamClient;
  /** Which periods were published already (`wbx_state`). */
  readonly state: KV;
  readonly sealer: Sealer;
  readonly audit: AuditSink;
  readonly log: Logger;
  /** How long after a period ends it is still open for late events; default 1 hour. */
  readonly graceMs?: number;
  /**
   * A closed period is published only when no event was added to it for this long, so that a burst of
   * back-filled events is counted whole; default 2 s.
   */
  readonly settleMs?: number;
}

/** A UUIDv7 that is the same for the same aggregate, so that publishing it again is a duplicate. */
function aggregateId(key: string, at: number): string {
  const h = createHash('sha256').update(key).digest('hex');
  return uuidV7(at, `${h.slice(0, 3)}${h.slice(15, 16)}${h.slice(3, 18)}`);
}

/**
 * Aggregate terms: counts the events each covers, per period, and when a period has closed publishes
 * one sealed `stats.aggregate` event per (agreement, term, event type, period) to the recipient's share
 * stream, cells below minCell suppressed — each audited before it is published. Published periods are
 * remembered in `wbx_state`.
 */
export class Aggregator {
  private readonly buckets = new Map<string, Bucket>();
  /** Aggregates audited whose publish has not succeeded yet: a retry does not audit them again. */
  private readonly audited = new Set<string>();
  private flushing: Promise<number> | undefined;

  constructor(private readonly options: AggregatorOptions) {}

  add(event: PolicyEvent, grants: readonly AggregateGrant[]): void {
    const occurred = Date.parse(String(event.claims.occurredAt));
    if (Number.isNaN(occurred)) return;
    for (const grant of grants) {
      const { period, start, end } = periodBounds(new Date(occurred), grant.term.period);
      const key = `${grant.agreementId}.${grant.termIndex}.${event.type}.${period}`;
      let bucket = this.buckets.get(key);
      if (bucket === undefined) {
        bucket = { grant, sourceType: event.type as EventType, period, start, end, events: [], lastAdded: 0 };
        this.buckets.set(key, bucket);
      }
      bucket.events.push(event);
      bucket.lastAdded = Date.now();
    }
  }

  /** Publishes every period that has closed (and settled) by `now`; one flush at a time. */
  flush(now: Date): Promise<number> {
    this.flushing ??= this.flushClosed(now).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushClosed(now: Date): Promise<number> {
    const grace = this.options.graceMs ?? 3_600_000;
    const settle = this.options.settleMs ?? 2_000;
    let published = 0;
    for (const [key, bucket] of this.buckets) {
      if (bucket.end.getTime() + grace > now.getTime() || Date.now() - bucket.lastAdded < settle) continue;
      if ((await this.options.state.get(`agg.${key}`)) === null) {
        await this.publish(key, bucket, now);
        published += 1;
      }
      this.buckets.delete(key);
    }
    return published;
  }

  private async publish(key: string, b: Bucket, now: Date): Promise<void> {
    const { partner, js, sealer, audit, state, log } = this.options;
    const body = aggregate(b.grant.term, b.sourceType, b.events, b.start);
    const occurredAt = new Date(Math.min(b.end.getTime() - 1, now.getTime())).toISOString();
    const event = {
      eventId: aggregateId(key, b.end.getTime()),
      origin: partner,
      type: 'stats.aggregate',
      schemaVersion: 1,
      occurredAt,
      recordedAt: now.toISOString(),
      statsAggregate: body,
    };
    const valid = validateEvent(JSON.parse(JSON.stringify(event)), { now });
    if (!valid.ok) {
      log.error({ key, violations: valid.violations }, 'an aggregate failed validation; not published');
      return;
    }
    const token = sealer.seal(valid.event, { now });
    const recipient = b.grant.recipient;
    // Audited first: the aggregate leaves only once its entry is durably stored.
    if (!this.audited.has(event.eventId)) {
      await audit.append({
        recipient,
        agreementId: b.grant.agreementId,
        eventId: event.eventId,
        eventType: 'stats.aggregate',
        paths: [...b.grant.term.dimensions].sort(),
        mode: 'aggregate',
      });
      this.audited.add(event.eventId);
    }
    await js.publish(shareSubject(recipient, partner, 'stats.aggregate'), token, {
      msgID: event.eventId,
      expect: { streamName: shareStream(recipient) },
    });
    this.audited.delete(event.eventId);
    await state.put(`agg.${key}`, event.eventId);
    log.info(
      { recipient, agreement: b.grant.agreementId, period: b.period, events: b.events.length },
      'aggregate shared',
    );
  }
}
