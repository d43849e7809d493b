import {
  AckPolicy,
  DeliverPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { AuditBatcher, type AuditSink, type DisclosureRecord } from '@wbx/audit';
import { holdToken } from '@wbx/seal';
import type { Logger } from 'pino';

import type { Aggregator } from './aggregator.js';
import { AuditedDisclosures, disclosureKey } from './audited-disclosures.js';
import {
  EVENTS_STREAM,
  SHARE_CONSUMER,
  shareConsumer,
  shareStream,
  shareStreamRecipient,
  shareSubject,
  shareSubjectPrefix,
  subjectsUnder,
} from './nats-layout.js';
import type { AgreementsSnapshot, AgreementsSource } from './agreements-watcher.js';
import { ensureConsumer, ensureStream, SHARE_CONSUMER_LIMITS } from './streams.js';
import type { ChangeSharer } from './record-change-share.js';
import { deriveShares } from './share-derive.js';
import type { StreamRefs } from './stream-refs.js';
import { Window } from './window.js';
import type { ShareDerivePool } from './workers/share-derive-pool.js';

export interface ShareWorkerOptions {
  readonly partner: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The agreements: each event is shared under the current snapshot; recipients follow each new one. */
  readonly agreements: AgreementsSource;
  readonly audit: AuditSink;
  readonly aggregator: Aggregator;
  readonly log: Logger;
  readonly now?: () => Date;
  /** How often closed aggregate periods are published; default 5 s. */
  readonly flushEveryMs?: number;
  /** JetStream replicas of the share streams (their consumers inherit them); default: the server's, 1. */
  readonly replicas?: number;
  /**
   * Keys persons' subject references per agreement and signs them into each presentation (see
   * `presentRecord`). Required: without it the origin's federation-wide references would go out.
   */
  readonly refs: StreamRefs;
  /** Shares corrections and withdrawals with the recipients of their originals (record-change-share.ts). */
  readonly changes?: ChangeSharer;
  /**
   * Derives the presentations (parse, policy, disclosures, reference bindings) of a backlog (more than
   * POOL_ABOVE events in flight) on worker threads, keyed with the same secret as `refs`; without it, or
   * for fewer, on this thread.
   */
  readonly derive?: ShareDerivePool;
}

/**
 * How many events are shared at once. Each waits for about three round trips to nats-server in a row
 * (its audit batch's turn, the audit append, the publish) while the raw relay of the same hop waits for
 * one: at 128, a nats-server slowed to 100 ms a round trip by a loaded machine capped sharing at
 * ≈ 430 events/s, and the share stream fell behind ingest at 1,000/s (`pnpm bench e2e`).
 */
const SHARE_WINDOW = 512;

/**
 * Above this many events in flight (a backlog), their presentations are derived on the share-derive
 * workers; below, on this thread, where a trickle pays no hand-over (as ingest's seal pool does).
 */
const POOL_ABOVE = 64;

/** How many unacknowledged events' audited disclosures are remembered (for redeliveries). */
const MAX_AUDITED_PENDING = 10_000;

const DAY_NS = 86_400_000_000_000;

/**
 * Per event of WBX_EVENTS and per recipient that an active agreement allows: derives the presentation
 * (drops disclosures, re-signs nothing), audits it (the entry durably stored), publishes it to
 * WBX_SHARE_<R> with Nats-Msg-Id = eventId, then acknowledges the event. Nothing is disclosed without
 * its audit entry: a crash between the audit and the publish leaves an entry for a disclosure that the
 * redelivery completes (the share stream deduplicates what was published but not acknowledged). When
 * the audit log fails for good (its chain is broken), sharing stops: nothing more is published or
 * acknowledged until the gateway is restarted on a repaired chain.
 */
export class ShareWorker {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly streams = new Map<string, number>();
  /** The presentations' audit entries, one per batch (group commit) and group (see AuditBatcher). */
  private readonly audit: AuditBatcher;
  /**
   * Per event not yet acknowledged, the disclosures already audited: a redelivery (the publish failed)
   * does not audit them again. Oldest first; bounded.
   */
  private readonly audited = new Map<string, Set<string>>();
  /** For an event delivered again: what the chain already lists (another replica may have audited it). */
  private readonly chain: AuditedDisclosures;
  /** Events being shared now. */
  private inFlight = 0;
  /** Set once sharing stopped because the audit log failed. */
  private halted = false;
  /** Following the agreements' snapshots (recipients' streams), while started. */
  private following: Disposable | undefined;

  constructor(private readonly options: ShareWorkerOptions) {
    this.audit = new AuditBatcher(options.audit, { prefix: 'share' });
    this.chain = new AuditedDisclosures(options.jsm, options.partner);
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  async start(): Promise<void> {
    const { jsm, js } = this.options;
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: SHARE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 1_024,
      ack_wait: 30_000_000_000,
    });
    this.following = this.options.agreements.subscribe((snapshot) => this.syncRecipients(snapshot));
    await this.syncRecipients();
    await this.logResume();
    const consumer = await js.consumers.get(EVENTS_STREAM, SHARE_CONSUMER);
    this.messages = await consumer.consume({ max_messages: SHARE_WINDOW });
    const messages = this.messages;
    // Events are shared concurrently (each is acknowledged only when its presentations are stored and
    // audited); the share streams deduplicate, and the audit log orders its own appends.
    const window = new Window(SHARE_WINDOW);
    this.loop = (async () => {
      for await (const m of messages) {
        await window.run(async () => {
          this.inFlight += 1;
          try {
            await this.handle(m);
          } catch (e) {
            // An event whose audit failed for good is neither published nor acknowledged.
            if (this.haltedForAudit()) return;
            this.options.log.error({ err: e, seq: m.seq }, 'sharing an event failed; it will be redelivered');
            m.nak(1_000);
          } finally {
            this.inFlight -= 1;
          }
        });
      }
      await window.drain();
    })();
    const flush = (): void => {
      if (this.haltedForAudit()) return;
      this.options.aggregator.flush(this.now()).then(
        () => undefined,
        (e: unknown) => this.options.log.error({ err: e }, 'publishing aggregates failed; will retry'),
      );
    };
    flush();
    this.timer = setInterval(flush, this.options.flushEveryMs ?? 5_000);
  }

  /**
   * Whether the audit log failed for good; the first time, stops consuming and says so loudly. The
   * events delivered and not acknowledged stay pending in WBX_EVENTS.
   */
  private haltedForAudit(): boolean {
    const failure = this.options.audit.failure;
    if (failure === undefined) return false;
    if (!this.halted) {
      this.halted = true;
      clearInterval(this.timer);
      this.options.log.error(
        { err: failure, code: failure.code },
        'the audit log failed: sharing stopped, nothing is disclosed until the audit chain is repaired and the gateway restarted (run wbx audit verify)',
      );
      void this.messages?.close();
    }
    return true;
  }

  /**
   * Appends `record` unless it was audited before: by this replica for an earlier delivery, or — for an
   * event delivered again — by anyone, as the audit chain says (a replica that audited it may have died or
   * lost its acknowledgement).
   */
  private async auditOnce(record: DisclosureRecord, m: JsMsg): Promise<void> {
    const key = disclosureKey(record);
    if (this.audited.get(record.eventId)?.has(key) === true) return;
    const storedAt = Math.floor(m.info.timestampNanos / 1e6);
    const before = m.info.redelivered && (await this.chain.has(record.eventId, key, storedAt));
    if (!before) await this.audit.append(record);
    let done = this.audited.get(record.eventId);
    if (done === undefined) {
      if (this.audited.size >= MAX_AUDITED_PENDING)
        this.audited.delete(this.audited.keys().next().value ?? '');
      done = new Set();
      this.audited.set(record.eventId, done);
    }
    done.add(key);
  }

  /**
   * Says where sharing resumes: the durable consumer's ack floor. Nothing before it is read again — the
   * events it acknowledged were shared, audited and counted (the aggregator's running counts are in
   * `wbx_state`, each event once) before their ack.
   */
  private async logResume(): Promise<void> {
    const info = await this.options.jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER);
    this.options.log.info(
      { consumer: SHARE_CONSUMER, ackFloor: info.ack_floor.stream_seq, pending: info.num_pending },
      'sharing resumes from the share consumer',
    );
  }

  /**
   * Makes the share streams match the active agreements: a stream and durable consumer per recipient
   * (retention from the agreements), and for a recipient that no longer has any, a purged stream.
   */
  async syncRecipients(snapshot: AgreementsSnapshot = this.options.agreements.current): Promise<void> {
    const { jsm, log } = this.options;
    // Paused: nobody knows which recipients have an agreement, so no stream is created or purged.
    if (snapshot.problem !== undefined) return;
    const wanted = new Map(snapshot.policy.recipients(this.now()).map((r) => [r.recipient, r.retentionDays]));
    for (const [id, days] of wanted) {
      if (this.streams.get(id) === days) continue;
      const config = {
        name: shareStream(id),
        subjects: [subjectsUnder(shareSubjectPrefix(id))],
        storage: StorageType.File,
        max_age: days * DAY_NS,
        duplicate_window: Math.min(days * DAY_NS, DAY_NS),
        ...(this.options.replicas === undefined ? {} : { num_replicas: this.options.replicas }),
      };
      await ensureStream(jsm, config);
      await ensureConsumer(jsm, config.name, {
        durable_name: shareConsumer(id),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30_000_000_000,
        ...SHARE_CONSUMER_LIMITS,
      });
      this.streams.set(id, days);
      log.info({ recipient: id, retentionDays: days }, 'share stream ready');
    }
    for await (const name of jsm.streams.names()) {
      const id = shareStreamRecipient(name);
      if (id === undefined || wanted.has(id)) continue;
      const info = await jsm.streams.info(name);
      if (info.state.messages > 0) {
        await jsm.streams.purge(name);
        log.warn({ recipient: id }, 'no active agreement any more: share stream purged');
      }
      this.streams.delete(id);
    }
  }

  /**
   * Shares one event: per grant, records its disclosure (one per agreement; the events shared while
   * the last batch was stored go into one audit entry per recipient, agreement, type and paths — see
   * AuditBatcher), and
   * once the entry is stored publishes the presentation. All grants run at once, and the event is
   * acknowledged only when every audit entry that lists it and every presentation is stored; any failure
   * leaves it unacknowledged, so it is redelivered.
   */
  private async handle(m: JsMsg): Promise<void> {
    const { js, partner } = this.options;
    if (this.haltedForAudit()) return;
    const now = this.now();
    const { policy, problem } = this.options.agreements.current;
    if (problem !== undefined) {
      // The agreements cannot be read (AgreementsWatcher): the event waits, shared once they can.
      m.nak(5_000);
      return;
    }
    if (policy.recipients(now).length === 0) {
      // No agreement as provider: nothing to share, no need to read the event.
      m.ack();
      return;
    }
    // Parsed once: the claims for the policy, and each recipient's presentation cut from it.
    const { derive } = this.options;
    const event =
      derive === undefined || this.inFlight <= POOL_ABOVE
        ? deriveShares(m.string(), partner, policy, this.options.refs, now)
        : await derive.derive(m.data, policy, now);
    const { eventId, type } = event;
    if (event.change) {
      const own = holdToken(m.string(), Number.MAX_SAFE_INTEGER);
      const ready = async (recipient: string): Promise<boolean> => {
        if (!this.streams.has(recipient)) await this.syncRecipients();
        return this.streams.has(recipient);
      };
      await this.options.changes?.share(m, own, policy, now, (r) => this.auditOnce(r, m), ready);
      this.audited.delete(eventId);
      m.ack();
      return;
    }
    const shared = event.grants.map(async (grant) => {
      if (grant.aggregates.length > 0)
        await this.options.aggregator.add(
          eventId,
          { type, origin: partner, claims: event.claims ?? {} },
          grant.aggregates,
        );
      const { presentation, paths } = grant;
      if (presentation === undefined) return;
      if (!this.streams.has(grant.recipient)) await this.syncRecipients();
      // Audited first: no presentation leaves without its entry durably stored.
      await Promise.all(
        grant.agreementIds.map((agreementId) =>
          this.auditOnce(
            {
              recipient: grant.recipient,
              agreementId,
              eventId,
              eventType: type,
              paths,
              mode: 'records',
            },
            m,
          ),
        ),
      );
      await js.publish(shareSubject(grant.recipient, partner, type), presentation, {
        msgID: eventId,
        expect: { streamName: shareStream(grant.recipient) },
      });
    });
    await Promise.all(shared);
    this.audited.delete(eventId);
    m.ack();
  }

  async stop(): Promise<void> {
    this.following?.[Symbol.dispose]();
    clearInterval(this.timer);
    await this.messages?.close();
    await this.loop;
  }
}
