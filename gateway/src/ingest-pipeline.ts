import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { isRecordChangeType, validateEvent, type ValidEvent, type Violation } from '@wbx/schema';
import { readOwnSealedEvent, type Sealer } from '@wbx/seal';
import type { Logger } from 'pino';

import type { SealPool } from './workers/seal-pool.js';
import { MalformedRequest } from './ingest-decode.js';
import type { GatewayMetrics } from './metrics.js';
import { EVENTS_STREAM, eventSubject } from './nats-layout.js';
import { CORRECTED_HEADER, type RecordChanges } from './record-changes.js';
import { type HopTrace, StageTrace } from './stage-trace.js';

export type IngestErrorCode =
  | 'INVALID_EVENT'
  /** The request's bytes are not a valid wbx.v1.Event (see MalformedRequest). */
  | 'MALFORMED_MESSAGE'
  /** The event id is already stored with other content: nothing was stored. */
  | 'EVENT_ID_CONFLICT'
  | 'UNAVAILABLE'
  | 'SHUTTING_DOWN';

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
  /** Corrections and withdrawals: checked against their original and recorded (record-changes.ts). */
  readonly changes?: RecordChanges;
  /** Times every N-th submission's hops (stage-trace.ts); default: env WBX_TRACE_SAMPLE, else off. */
  readonly traceSample?: number;
}

/**
 * Submissions in flight (validated, not yet acknowledged) above which events are sealed on the seal pool.
 * At 1,000 events/s a few are in flight (a publish round trip's worth); a bulk SubmitStream fills its
 * window of 512.
 */
export const SEAL_POOL_BACKLOG = 64;

/**
 * validate → seal with the partner's key → publish to WBX_EVENTS with `Nats-Msg-Id = eventId`; resolves
 * with the receipt only after JetStream acknowledged the event. A re-submitted eventId (within the
 * stream's duplicate window) stores nothing: with the same content it returns the original sequence with
 * `duplicate: true` (an idempotent retry); with other content it fails with EVENT_ID_CONFLICT.
 */
export class IngestPipeline {
  private inFlight = 0;
  private closed = false;
  private idle: (() => void) | undefined;
  private jsm: Promise<JetStreamManager> | undefined;
  private readonly tracer: StageTrace;

  constructor(private readonly options: IngestPipelineOptions) {
    const every = options.traceSample ?? StageTrace.everyFromEnv();
    this.tracer = new StageTrace(every, options.metrics.stageLatency, options.log);
  }

  /** A hop trace for the submission arriving now, when it is a sampled one (WBX_TRACE_SAMPLE). */
  trace(): HopTrace | undefined {
    return this.tracer.start();
  }

  get pending(): number {
    return this.inFlight;
  }

  async submit(input: unknown, trace?: HopTrace): Promise<IngestReceipt> {
    if (this.closed) throw new IngestError('SHUTTING_DOWN', 'the gateway is shutting down');
    const { metrics, partner, log } = this.options;
    metrics.submitted.inc();
    if (input instanceof MalformedRequest) {
      metrics.rejected.inc({ code: 'MALFORMED_MESSAGE' });
      log.warn(
        { size: input.size, reason: input.reason },
        'Ingest request refused: not a valid wbx.v1.Event',
      );
      throw new IngestError('MALFORMED_MESSAGE', `the request is ${input.reason}`);
    }
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
    trace?.mark('validated');
    const { sealPool, sealer, changes } = this.options;
    this.inFlight += 1;
    try {
      const change = isRecordChangeType(event.type) ? await changes?.prepare(event) : undefined;
      if (change?.ok === false) {
        for (const v of change.violations) metrics.rejected.inc({ code: v.code });
        throw new IngestError('INVALID_EVENT', 'the event is invalid', change.violations);
      }
      // validateEvent validated the corrected event whole and returns it so.
      const corrected = event.recordCorrection?.corrected as ValidEvent | undefined;
      if (change !== undefined && corrected !== undefined)
        change.headers.set(CORRECTED_HEADER, sealer.seal(corrected, { now }));
      // The seal pool only when submissions pile up (a bulk ingest): at a moderate rate, handing an event
      // to a worker thread and its token back costs more latency than sealing it here (e2e bench hops).
      const token =
        sealPool === undefined || this.inFlight <= SEAL_POOL_BACKLOG
          ? sealer.seal(event, { now })
          : await sealPool.seal(event, now);
      trace?.mark('sealed');
      const subject = eventSubject(event.origin, event.type);
      const receipt = await this.publish(subject, token, event.eventId, change?.headers);
      trace?.mark('stored');
      if (change !== undefined) await changes?.record(event, receipt.seq, change.originalSeq);
      return receipt;
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.idle?.();
    }
  }

  private async publish(
    subject: string,
    token: string,
    eventId: string,
    headers?: MsgHdrs,
  ): Promise<IngestReceipt> {
    const { js, metrics, publishTimeoutMs } = this.options;
    const deadline = Date.now() + publishTimeoutMs;
    const started = performance.now();
    const ack = await this.untilDeadline(`publish to ${EVENTS_STREAM}`, eventId, deadline, (remaining) =>
      js.publish(subject, token, {
        msgID: eventId,
        ...(headers === undefined ? {} : { headers }),
        expect: { streamName: EVENTS_STREAM },
        // Short attempts: a publish in flight when NATS went away is not resent on reconnect, and the
        // msgID makes a retry safe.
        timeout: Math.max(500, Math.min(remaining, 2_000)),
      }),
    );
    metrics.publishLatency.observe((performance.now() - started) / 1000);
    if (ack.duplicate) await this.checkSameContent(eventId, ack.seq, token, deadline);
    metrics.published.inc({ duplicate: String(ack.duplicate) });
    return { eventId, seq: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * A duplicate is an idempotent retry only when it carries the same content: compares the event's
   * claims (signature, salts, decoys and `iat` differ on every seal) with those of the copy stored at
   * `seq`, and throws EVENT_ID_CONFLICT when they differ. A copy that is gone (past the stream's limits,
   * its id still in the duplicate window) cannot be compared: the duplicate stands.
   */
  private async checkSameContent(
    eventId: string,
    seq: number,
    token: string,
    deadline: number,
  ): Promise<void> {
    const { metrics, log, partner } = this.options;
    const stored = await this.untilDeadline(
      `read the stored copy from ${EVENTS_STREAM}`,
      eventId,
      deadline,
      async () => (await this.manager()).streams.getMessage(EVENTS_STREAM, { seq }),
    );
    if (stored === null) {
      log.warn(
        { eventId, origin: partner, seq },
        'duplicate event id whose stored copy is gone; not compared',
      );
      return;
    }
    const submitted = contentOf(token);
    let same: boolean;
    try {
      same = isDeepStrictEqual(contentOf(stored.string()), submitted);
    } catch (e) {
      log.error(
        { err: e, eventId, origin: partner, seq },
        'the stored copy of a duplicate event id is unreadable',
      );
      same = false;
    }
    if (same) return;
    metrics.rejected.inc({ code: 'EVENT_ID_CONFLICT' });
    log.warn(
      { eventId, origin: partner, seq },
      'event id already stored with different content; refused (EVENT_ID_CONFLICT)',
    );
    throw new IngestError(
      'EVENT_ID_CONFLICT',
      `event ${eventId} is already stored with different content; nothing was stored`,
    );
  }

  private manager(): Promise<JetStreamManager> {
    this.jsm ??= this.options.js.jetstreamManager(false);
    return this.jsm;
  }

  /** Runs `attempt` until it succeeds, retrying with a short backoff; UNAVAILABLE past the deadline. */
  private async untilDeadline<T>(
    what: string,
    eventId: string,
    deadline: number,
    attempt: (remainingMs: number) => Promise<T>,
  ): Promise<T> {
    const { metrics, log } = this.options;
    for (let n = 1; ; n++) {
      try {
        return await attempt(deadline - Date.now());
      } catch (e) {
        if (Date.now() + 100 >= deadline) {
          metrics.rejected.inc({ code: 'UNAVAILABLE' });
          log.error({ err: e, eventId, attempt: n }, `${what} failed until the deadline`);
          throw new IngestError('UNAVAILABLE', 'the event store is unavailable; try again', [], { cause: e });
        }
        log.warn({ err: e, eventId, attempt: n }, `${what} failed; retrying`);
        await sleep(Math.min(1_000, 50 * n));
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

/** A sealed event's claims without `iat`: what a retry of the same event must repeat exactly. */
function contentOf(token: string): Record<string, unknown> {
  const { iat: _issued, ...claims } = readOwnSealedEvent(token).claims;
  return claims;
}
