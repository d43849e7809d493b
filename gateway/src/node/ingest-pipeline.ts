import { setTimeout as sleep } from 'node:timers/promises';

import type { JetStreamClient } from '@nats-io/jetstream';
import { validateEvent, type Violation } from '@wbx/schema';
import type { Sealer } from '@wbx/seal';
import type { Logger } from 'pino';

import type { SealPool } from '../seal-pool.js';
import type { GatewayMetrics } from './metrics.js';
import { EVENTS_STREAM, eventSubject } from './streams.js';

export type IngestErrorCode = 'INVALID_EVENT' | 'UNAVAILABLE' | 'SHUTTING_DOWN';

export class IngestError extends Error {
  constructor(
    readonly code: IngestErrorCode,
    message: string,
    readonly violations: readonly Violation[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface IngestReceipt {
  readonly eventId: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

export interface IngestPipelineOptions {
  readonly partner: string;
  readonly js: JetStreamClient;
  readonly sealer: Sealer;
  /** Seals submissions that arrive together on worker threads (the sealer's key); absent: all here. */
  readonly sealPool?: SealPool | undefined;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** How long a submission may wait for NATS (reconnects included) before UNAVAILABLE. */
  readonly publishTimeoutMs: number;
  readonly now?: () => Date;
}

/**
 * validate → seal with the partner's key → publish to WBX_EVENTS with `Nats-Msg-Id = eventId`; resolves
 * with the receipt only after JetStream acknowledged the event. A re-submitted eventId (within the
 * stream's duplicate window) stores nothing and returns the original sequence with `duplicate: true`.
 */
export class IngestPipeline {
  private inFlight = 0;
  private closed = false;
  private idle: (() => void) | undefined;

  constructor(private readonly options: IngestPipelineOptions) {}

  get pending(): number {
    return this.inFlight;
  }

  async submit(input: unknown): Promise<IngestReceipt> {
    if (this.closed) throw new IngestError('SHUTTING_DOWN', 'the gateway is shutting down');
    const { metrics, partner } = this.options;
    metrics.submitted.inc();
    const now = this.options.now?.() ?? new Date();
    const result = validateEvent(input, { now });
    let violations = result.ok ? [] : [...result.violations];
    if (result.ok && result.event.origin !== partner) {
      violations = [
        { path: 'origin', code: 'FOREIGN_ORIGIN', message: `this gateway ingests events of ${partner} only` },
      ];
    }
    if (!result.ok || violations.length > 0) {
      for (const v of violations) metrics.rejected.inc({ code: v.code });
      throw new IngestError('INVALID_EVENT', 'the event is invalid', violations);
    }
    const event = result.event;
    const { sealPool, sealer } = this.options;
    this.inFlight += 1;
    try {
      const token = sealPool === undefined ? sealer.seal(event, { now }) : await sealPool.seal(event, now);
      return await this.publish(eventSubject(event.origin, event.type), token, event.eventId);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.idle?.();
    }
  }

  private async publish(subject: string, token: string, eventId: string): Promise<IngestReceipt> {
    const { js, metrics, log, publishTimeoutMs } = this.options;
    const deadline = Date.now() + publishTimeoutMs;
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      try {
        const ack = await js.publish(subject, token, {
          msgID: eventId,
          expect: { streamName: EVENTS_STREAM },
          // Short attempts: a publish in flight when NATS went away is not resent on reconnect, and the
          // msgID makes a retry safe.
          timeout: Math.max(500, Math.min(remaining, 2_000)),
        });
        metrics.publishLatency.observe((performance.now() - started) / 1000);
        metrics.published.inc({ duplicate: String(ack.duplicate) });
        return { eventId, seq: ack.seq, duplicate: ack.duplicate };
      } catch (e) {
        if (Date.now() + 100 >= deadline) {
          metrics.rejected.inc({ code: 'UNAVAILABLE' });
          log.error({ err: e, eventId, attempt }, 'publish to WBX_EVENTS failed until the deadline');
          throw new IngestError('UNAVAILABLE', 'the event store is unavailable; try again', [], { cause: e });
        }
        log.warn({ err: e, eventId, attempt }, 'publish to WBX_EVENTS failed; retrying');
        await sleep(Math.min(1_000, 50 * attempt));
      }
    }
  }

  /** Refuses new submissions and waits until the ones in flight are acknowledged or failed. */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
    });
  }
}
