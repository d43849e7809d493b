import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  DiscardPolicy,
  jetstream,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, headers, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { AGGREGATE_CLAIMS, CATEGORICAL_FIELDS } from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import { isRecordChangeType } from '@wbx/schema';
import { tryVerifyPresentation, type EventEnvelope } from '@wbx/seal';
import { TurnBatcher } from '@wbx/turn';
import type { Logger } from 'pino';

import type { AgreementsSource } from './agreements-watcher.js';
import { VerifyPool, type PoolResult } from './workers/verify-pool.js';
import { InboxSeen } from './inbox-seen.js';
import type { GatewayMetrics } from './metrics.js';
import {
  INBOX_STREAM,
  INBOX_SUBJECT_PREFIX,
  inboxMsgId,
  inboxSubject,
  QUARANTINE_STREAM,
  QUARANTINE_SUBJECT_PREFIX,
  quarantineSubject,
  RECIPIENT_API_PREFIX,
  recipientInboxPrefix,
  shareConsumer,
  shareStream,
  subjectsUnder,
} from './nats-layout.js';
import { applyRecordChange, type ChangeRefusal } from './record-change-apply.js';
import { StreamFillMonitor } from './stream-fill.js';
import { ensureStream, type StreamConfigInput } from './streams.js';
import { Window } from './window.js';

/** A partner that shares with this one: where its NATS is and the credentials it handed over. */
export interface ReceiveSource {
  readonly partner: string;
  readonly url: string;
  /** File with the nkey seed (SU…) the origin generated for this recipient. */
  readonly nkeyFile: string;
  /** PEM CA to trust for the origin's NATS TLS. */
  readonly tlsCa?: string;
}

export interface ReceiveWorkerOptions {
  /** This partner: the recipient. */
  readonly partner: string;
  readonly sources: readonly ReceiveSource[];
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly manifest: () => ManifestBody;
  /**
   * The agreements this partner holds: each presentation is checked under the current snapshot's
   * policy (the agreements in which this partner is the recipient count); nothing beyond them is
   * stored, and with none nothing is. While the snapshot has a `problem` (the agreements cannot be
   * read), presentations wait at the origin, neither stored nor quarantined.
   */
  readonly agreements: Pick<AgreementsSource, 'current'>;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Worker threads that verify presentations (default: one per core; 0: on the main thread). */
  readonly verifyThreads?: number;
  /**
   * WBX_INBOX's limits, its Nats-Msg-Id duplicate window (ms, default 1 day) and how often the fill of
   * the inbox and the quarantine is measured (ms, default 30 s); default limits: the configuration's.
   */
  readonly inbox?: StoreLimits & { readonly duplicateWindow?: number; readonly checkEvery?: number };
  readonly quarantine?: StoreLimits;
  /** JetStream replicas of the inbox, the quarantine and the inbox's memory of stored events. */
  readonly replicas?: number;
  readonly metrics?: GatewayMetrics;
  /**
   * An origin that cannot be reached (not connected, or its share consumer not there) for longer than
   * this (ms, default 60 s) is reported: a warning, and `wbx_receive_origin_reachable{origin}` 0.
   */
  readonly unreachableAfter?: number;
}

/** A stream's limits, as the configuration gives them: ms (0: forever), bytes and messages (-1: none). */
export interface StoreLimits {
  readonly maxAge: number;
  readonly maxBytes: number;
  readonly maxMsgs: number;
}

const DAY_MS = 86_400_000;
const ms = (n: number): number => n * 1_000_000;
const INBOX_LIMITS: StoreLimits = { maxAge: 3_650 * DAY_MS, maxBytes: 10 * 2 ** 30, maxMsgs: 10_000_000 };
const QUARANTINE_LIMITS: StoreLimits = { maxAge: 90 * DAY_MS, maxBytes: 2 ** 30, maxMsgs: 1_000_000 };

/**
 * A bounded store of received presentations. The inbox refuses new events when full (they wait in the
 * origin's share stream and come again): nothing an origin shared is dropped here to make room. The
 * quarantine drops its oldest instead, so that a flood of refused presentations cannot stop the rest.
 */
function storeStream(
  name: string,
  subjects: string[],
  limits: StoreLimits,
  discard: DiscardPolicy,
  windowMs: number,
  replicas: number | undefined,
): StreamConfigInput {
  return {
    name,
    subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard,
    max_age: ms(limits.maxAge),
    max_bytes: limits.maxBytes,
    max_msgs: limits.maxMsgs,
    // JetStream wants the window no longer than the stream keeps messages.
    duplicate_window: ms(limits.maxAge > 0 ? Math.min(windowMs, limits.maxAge) : windowMs),
    ...(replicas === undefined ? {} : { num_replicas: replicas }),
  };
}

/** The memory of stored events outlives them by a day: more than any `iat` skew verification allows. */
const SEEN_MARGIN_MS = DAY_MS;

/** A presentation refused for its agreement is delivered this many times before it is quarantined. */
const AGREEMENT_DELIVERIES = 3;

/** JetStream's code for a message a stream cannot store (full, with DiscardNew). */
const STREAM_STORE_FAILED = 10077;

/** An unreachable origin is reported again this often while it stays unreachable. */
const UNREACHABLE_REPEAT_MS = 300_000;

/** Since when an origin cannot be reached (undefined: it can), and when that was last reported. */
interface Reach {
  since: number | undefined;
  reported: number | undefined;
}

/** How many presentations of one origin are in flight (verified, stored, acknowledged) at once. */
const RECEIVE_WINDOW = 512;

/**
 * The claims the receive worker reads of a verified presentation besides its envelope (the rest stays in
 * the worker thread): the fields a where-condition may test and an aggregate's fields.
 */
const RECEIVE_CLAIMS = [...CATEGORICAL_FIELDS, ...AGGREGATE_CLAIMS];

/** At most this many presentations go to a verify worker in one message. */
const VERIFY_BATCH = 32;

/** Smaller batches (presentations arriving one by one, no backlog) are verified on the main thread. */
const POOL_MIN_BATCH = 4;

/**
 * Fetches from this partner's consumer on each origin's NATS, verifies every presentation against the
 * manifest, checks it against the agreements this partner holds as recipient (the policy's check: type,
 * disclosed fields, in force at its `iat`), and stores it in WBX_INBOX (`wbx.in.<origin>.<type>`,
 * Nats-Msg-Id = `<origin>.<eventId>`, the origin being the verified issuer, so that no origin can take
 * another's event id) before it acknowledges the origin; anything refused goes to WBX_QUARANTINE with
 * its code, never to the inbox. (An agreement refusal is delivered again twice before it is quarantined,
 * so that an agreement the origin applied a moment before this gateway does costs nothing.) An origin
 * that cannot be reached does not hold up the gateway: it is retried in the background. Restarts and
 * outages of either side resume from the durable consumer; the inbox's deduplication keeps a redelivered
 * event from being stored twice within its window, and the memory of stored events (InboxSeen) beyond
 * it: a replay is dropped. A presentation issued longer ago than the inbox keeps events is quarantined
 * (STALE_PRESENTATION), so that this memory needs to last no longer than the inbox's max age.
 */
export class ReceiveWorker {
  private readonly loops: Promise<void>[] = [];
  private readonly connections = new Set<NatsConnection>();
  private readonly consumers = new Set<ConsumerMessages>();
  private stopping = false;
  private pool: VerifyPool | undefined;
  private poolManifest: ManifestBody | undefined;
  private seen: InboxSeen | undefined;
  private fill: StreamFillMonitor | undefined;
  private fullWarned = 0;
  private readonly reach = new Map<string, Reach>();
  private reachTimer: NodeJS.Timeout | undefined;
  /** Presentations of one turn: to the verify pool when there is a backlog, here for a trickle. */
  private readonly batcher = new TurnBatcher<string, PoolResult>({
    maxBatch: VERIFY_BATCH,
    minBatch: POOL_MIN_BATCH,
    here: (token) => this.verifyHere(token),
    pooled: (tokens) => this.verifyPool().verifyBatch(tokens, this.now()),
  });

  constructor(private readonly options: ReceiveWorkerOptions) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /**
   * Verifies a presentation against the current manifest, batched with the others that arrive in the
   * same turn of the event loop (up to VERIFY_BATCH): on the verify pool when there is a backlog, here
   * for a trickle or if verifyThreads is 0.
   */
  private verify(token: string): Promise<PoolResult> {
    if (this.options.verifyThreads === 0) return Promise.resolve(this.verifyHere(token));
    return this.batcher.add(token);
  }

  private verifyHere(token: string): PoolResult {
    return tryVerifyPresentation(token, { manifest: this.options.manifest(), now: this.now() });
  }

  /** The pool for the current manifest; a new manifest gets a new pool (the old one finishes its batches). */
  private verifyPool(): VerifyPool {
    const manifest = this.options.manifest();
    if (this.pool === undefined || manifest !== this.poolManifest) {
      const old = this.pool;
      this.pool = new VerifyPool({
        manifest,
        claims: RECEIVE_CLAIMS,
        ...(this.options.verifyThreads === undefined ? {} : { size: this.options.verifyThreads }),
      });
      this.poolManifest = manifest;
      old?.close().catch((e: unknown) => this.options.log.warn({ err: e }, 'closing a verify pool failed'));
    }
    return this.pool;
  }

  private inboxLimits(): StoreLimits {
    return this.options.inbox ?? INBOX_LIMITS;
  }

  async start(): Promise<void> {
    const { js, jsm, replicas, log } = this.options;
    const inbox = this.inboxLimits();
    const window = this.options.inbox?.duplicateWindow ?? DAY_MS;
    const quarantine = this.options.quarantine ?? QUARANTINE_LIMITS;
    const { New, Old } = DiscardPolicy;
    const received = [subjectsUnder(INBOX_SUBJECT_PREFIX)];
    await ensureStream(jsm, storeStream(INBOX_STREAM, received, inbox, New, window, replicas));
    const quarantined = [subjectsUnder(QUARANTINE_SUBJECT_PREFIX)];
    await ensureStream(jsm, storeStream(QUARANTINE_STREAM, quarantined, quarantine, Old, DAY_MS, replicas));
    this.seen = await InboxSeen.open(js, jsm, {
      ttlMs: inbox.maxAge > 0 ? inbox.maxAge + SEEN_MARGIN_MS : 0,
      ...(replicas === undefined ? {} : { replicas }),
    });
    this.fill = new StreamFillMonitor({
      jsm,
      streams: [INBOX_STREAM, QUARANTINE_STREAM],
      log,
      ...(this.options.metrics === undefined ? {} : { gauge: this.options.metrics.streamFill }),
      ...(this.options.inbox?.checkEvery === undefined ? {} : { everyMs: this.options.inbox.checkEvery }),
    });
    this.fill.start();
    const started = Date.now();
    for (const { partner } of this.options.sources) {
      this.reach.set(partner, { since: started, reported: undefined });
      this.options.metrics?.receiveOriginReachable.set({ origin: partner }, 1);
    }
    const after = this.unreachableAfter();
    this.reachTimer = setInterval(() => this.checkReach(), Math.max(100, Math.min(5_000, after / 4)));
    this.reachTimer.unref();
    for (const source of this.options.sources) this.loops.push(this.receive(source));
  }

  private unreachableAfter(): number {
    return this.options.unreachableAfter ?? 60_000;
  }

  /** The origin can be reached (again): consuming from it. */
  private reachable(origin: string): void {
    const reach = this.reach.get(origin);
    if (reach === undefined) return;
    if (reach.reported !== undefined && reach.since !== undefined) {
      const seconds = Math.round((Date.now() - reach.since) / 1_000);
      this.options.log.info(
        { origin, seconds },
        `origin ${origin} reachable again after ${String(seconds)} s`,
      );
    }
    reach.since = undefined;
    reach.reported = undefined;
    this.options.metrics?.receiveOriginReachable.set({ origin }, 1);
  }

  /** The origin cannot be reached now (disconnected, or not connected yet). */
  private unreachable(origin: string): void {
    const reach = this.reach.get(origin);
    if (reach !== undefined && reach.since === undefined) reach.since = Date.now();
  }

  /** Reports each origin unreachable for longer than `unreachableAfter`, again every few minutes. */
  private checkReach(): void {
    const now = Date.now();
    for (const [origin, reach] of this.reach) {
      if (reach.since === undefined || now - reach.since < this.unreachableAfter()) continue;
      this.options.metrics?.receiveOriginReachable.set({ origin }, 0);
      if (reach.reported !== undefined && now - reach.reported < UNREACHABLE_REPEAT_MS) continue;
      reach.reported = now;
      const seconds = Math.round((now - reach.since) / 1_000);
      const url = this.options.sources.find((s) => s.partner === origin)?.url;
      this.options.log.warn(
        { origin, url, seconds },
        `origin ${origin} unreachable for ${String(seconds)} s`,
      );
    }
  }

  /** Follows a connection to an origin: a disconnect makes it unreachable, a reconnect reachable. */
  private followReach(origin: string, nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.unreachable(origin);
        else if (s.type === 'reconnect') this.reachable(origin);
      }
    })().catch(() => undefined);
  }

  private isStopping(): boolean {
    return this.stopping;
  }

  /** Connects (retrying while the origin is unreachable), then consumes until stopped. */
  private async receive(source: ReceiveSource): Promise<void> {
    const { partner: me, log } = this.options;
    for (let attempt = 1; !this.isStopping(); attempt++) {
      let nc: NatsConnection | undefined;
      try {
        const seed = (await readFile(source.nkeyFile, 'utf8')).trim();
        nc = await connect({
          servers: source.url,
          name: `wbx-receive-${me}-from-${source.partner}`,
          authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
          inboxPrefix: recipientInboxPrefix(me),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          noAsyncTraces: true,
          ...(source.tlsCa === undefined ? {} : { tls: { caFile: source.tlsCa } }),
        });
        this.connections.add(nc);
        // Stopped while connecting: stop() closed the connections it found, not this one.
        if (this.isStopping()) return;
        this.followReach(source.partner, nc);
        const api = jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX });
        const consumer = await api.consumers.get(shareStream(me), shareConsumer(me));
        const messages = await consumer.consume({ max_messages: RECEIVE_WINDOW });
        this.consumers.add(messages);
        if (this.isStopping()) messages.stop();
        this.reachable(source.partner);
        log.info({ origin: source.partner, url: source.url }, 'receiving');
        attempt = 0;
        const window = new Window(RECEIVE_WINDOW);
        for await (const m of messages) {
          await window.run(async () => {
            try {
              await this.handle(source.partner, m);
            } catch (e) {
              if (e instanceof JetStreamApiError && e.code === STREAM_STORE_FAILED) {
                // The inbox is full (or its store failing): the event waits at the origin.
                if (Date.now() - this.fullWarned > 10_000) {
                  this.fullWarned = Date.now();
                  const what = `${INBOX_STREAM} cannot store; received events wait at their origin`;
                  log.warn({ err: e, origin: source.partner }, what);
                }
                m.nak(5_000);
                return;
              }
              log.error(
                { err: e, origin: source.partner, seq: m.seq },
                'storing a received event failed; retrying later',
              );
              m.nak(1_000);
            }
          });
        }
        await window.drain();
        this.consumers.delete(messages);
      } catch (e) {
        if (this.isStopping()) return;
        log.warn(
          { err: e, origin: source.partner, attempt },
          `not receiving from ${source.partner}; retrying`,
        );
      } finally {
        this.unreachable(source.partner);
        if (nc !== undefined) {
          this.connections.delete(nc);
          await nc.close().catch(() => undefined);
        }
      }
      if (!this.isStopping()) await sleep(Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)));
    }
  }

  /** Why a verified presentation of `origin` is not to be stored, or undefined: store it. */
  private refusal(
    origin: string,
    m: JsMsg,
    verified: Extract<PoolResult, { ok: true }>,
  ): { code: string; detail: string; retry?: boolean; wait?: boolean } | undefined {
    const { issuer, issuedAt, type, claims, disclosed, refAgreement } = verified;
    if (issuer !== origin) {
      return { code: 'UNKNOWN_ISSUER', detail: `${issuer}'s event in ${origin}'s share stream` };
    }
    const { maxAge } = this.inboxLimits();
    if (maxAge > 0 && issuedAt.getTime() < this.now().getTime() - maxAge) {
      const issued = issuedAt.toISOString();
      return { code: 'STALE_PRESENTATION', detail: `issued ${issued}, before what ${INBOX_STREAM} keeps` };
    }
    const presentation = { origin, type, iat: issuedAt.getTime() / 1000, claims, disclosed, refAgreement };
    const { policy, problem } = this.options.agreements.current;
    if (problem !== undefined)
      return { code: 'AGREEMENTS_UNAVAILABLE', detail: 'agreements cannot be read', wait: true };
    const verdict = policy.check(presentation);
    if (verdict.ok) return undefined;
    return { code: verdict.code, detail: verdict.detail, retry: m.info.deliveryCount < AGREEMENT_DELIVERIES };
  }

  private async handle(origin: string, m: JsMsg): Promise<void> {
    const { js, log, metrics } = this.options;
    const token = m.string();
    const verified = await this.verify(token);
    let code: string;
    let detail: string | undefined;
    if (verified.ok && isRecordChangeType(verified.type)) {
      const refused = await this.applyChange(origin, m, token, verified);
      if (refused === undefined) return;
      ({ code, detail } = refused);
    } else if (verified.ok) {
      const refused = this.refusal(origin, m, verified);
      if (refused === undefined) {
        await this.store(origin, m, token, verified);
        return;
      }
      if (refused.wait === true) {
        log.debug({ origin, seq: m.seq }, 'agreements unavailable; the presentation waits at the origin');
        m.nak(5_000);
        return;
      }
      if (refused.retry === true) {
        log.debug({ origin, seq: m.seq, code: refused.code }, 'beyond the agreements held; delivered again');
        m.nak(1_000);
        return;
      }
      ({ code, detail } = refused);
    } else {
      // Not a refusal of the presentation but a failure of the verifier: retried later.
      if (verified.code === 'INTERNAL') throw new Error(`verifying failed: ${verified.detail}`);
      code = verified.code;
      detail = verified.detail;
    }
    log.warn({ origin, seq: m.seq, code, detail }, 'presentation quarantined');
    metrics?.receiveQuarantined.inc({ origin, code });
    const h = headers();
    h.set('Wbx-Error-Code', code);
    h.set('Wbx-Origin-Seq', String(m.seq));
    await js.publish(quarantineSubject(origin), token, {
      headers: h,
      msgID: `${origin}-${String(m.seq)}`,
      expect: { streamName: QUARANTINE_STREAM },
    });
    m.ack();
  }

  /** A correction or withdrawal: applied to the inbox (record-change-apply.ts), or refused. */
  private async applyChange(
    origin: string,
    m: JsMsg,
    token: string,
    notice: EventEnvelope,
  ): Promise<ChangeRefusal | undefined> {
    const { policy, problem } = this.options.agreements.current;
    const seen = this.seen;
    if (seen === undefined) throw new Error('the receive worker is not started');
    if (problem !== undefined) throw new Error('agreements cannot be read; the change waits');
    const { partner, js, jsm, log } = this.options;
    const deps = { partner, js, jsm, seen, policy, manifest: this.options.manifest(), now: this.now(), log };
    return applyRecordChange(deps, origin, m, token, notice);
  }

  /**
   * Stores a presentation within the agreements in WBX_INBOX, unless the inbox stored that event before
   * (a replay, past the inbox's duplicate window): then it is dropped. Acknowledges the origin.
   */
  private async store(origin: string, m: JsMsg, token: string, event: EventEnvelope): Promise<void> {
    const { js, log, metrics } = this.options;
    const seen = this.seen;
    if (seen === undefined) throw new Error('the receive worker is not started');
    const { eventId: jti, type } = event;
    if (await seen.has(origin, jti)) {
      metrics?.receiveReplays.inc({ origin });
      log.info({ origin, seq: m.seq, eventId: jti }, 'replay of an event already stored; dropped');
      m.ack();
      return;
    }
    // `origin` is the verified issuer (refusal() checked it): no origin can take another's event id.
    const ack = await js.publish(inboxSubject(origin, type), token, {
      msgID: inboxMsgId(origin, jti),
      expect: { streamName: INBOX_STREAM },
    });
    await seen.remember(origin, jti, ack.seq);
    if (!ack.duplicate) metrics?.receiveStored.inc({ origin });
    m.ack();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.reachTimer);
    for (const m of this.consumers) await m.close().catch(() => undefined);
    for (const nc of this.connections) await nc.close().catch(() => undefined);
    await Promise.all(this.loops);
    this.loops.length = 0;
    await this.fill?.stop();
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }
}
