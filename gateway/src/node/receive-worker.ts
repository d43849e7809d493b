import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  jetstream,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, headers, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { ManifestBody } from '@wbx/registry';
import { tryVerifyPresentation } from '@wbx/seal';
import type { Logger } from 'pino';

import { TurnBatcher } from '../turn-batcher.js';
import { VerifyPool, type PoolResult } from '../verify-pool.js';
import { recipientInboxPrefix, shareStream } from './nats-access.js';
import { ensureStream, type StreamConfigInput } from './streams.js';
import { Window } from './window.js';

export const INBOX_STREAM = 'WBX_INBOX';
export const QUARANTINE_STREAM = 'WBX_QUARANTINE';

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
  readonly log: Logger;
  readonly now?: () => Date;
  /** Worker threads that verify presentations (default: one per core; 0: on the main thread). */
  readonly verifyThreads?: number;
}

const DAY_NS = 86_400_000_000_000;

function storeStream(name: string, subjects: string[]): StreamConfigInput {
  return { name, subjects, storage: StorageType.File, duplicate_window: DAY_NS };
}

/** How many presentations of one origin are in flight (verified, stored, acknowledged) at once. */
const RECEIVE_WINDOW = 512;

/** What the receive worker reads of a verified presentation (the rest stays in the worker thread). */
const RECEIVE_CLAIMS = ['iss', 'jti', 'wbx_type'] as const;

/** At most this many presentations go to a verify worker in one message. */
const VERIFY_BATCH = 32;

/** Smaller batches (presentations arriving one by one, no backlog) are verified on the main thread. */
const POOL_MIN_BATCH = 4;

/**
 * Fetches from this partner's consumer on each origin's NATS, verifies every presentation against the
 * manifest, and stores it in WBX_INBOX (`wbx.in.<origin>.<type>`, Nats-Msg-Id = eventId) before it
 * acknowledges the origin; anything that fails goes to WBX_QUARANTINE with its error code, never to the
 * inbox. An origin that cannot be reached does not hold up the gateway: it is retried in the background.
 * Restarts and outages of either side resume from the durable consumer, and the inbox's deduplication
 * keeps a redelivered event from being stored twice.
 */
export class ReceiveWorker {
  private readonly loops: Promise<void>[] = [];
  private readonly connections = new Set<NatsConnection>();
  private readonly consumers = new Set<ConsumerMessages>();
  private stopping = false;
  private pool: VerifyPool | undefined;
  private poolManifest: ManifestBody | undefined;
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

  async start(): Promise<void> {
    const { jsm } = this.options;
    await ensureStream(jsm, storeStream(INBOX_STREAM, ['wbx.in.>']));
    await ensureStream(jsm, storeStream(QUARANTINE_STREAM, ['wbx.quarantine.>']));
    for (const source of this.options.sources) this.loops.push(this.receive(source));
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
        const consumer = await jetstream(nc).consumers.get(shareStream(me), me);
        const messages = await consumer.consume({ max_messages: RECEIVE_WINDOW });
        this.consumers.add(messages);
        log.info({ origin: source.partner, url: source.url }, 'receiving');
        attempt = 0;
        const window = new Window(RECEIVE_WINDOW);
        for await (const m of messages) {
          await window.run(async () => {
            try {
              await this.handle(source.partner, m);
            } catch (e) {
              log.error({ err: e, origin: source.partner, seq: m.seq }, 'storing a received event failed; retrying later');
              m.nak(1_000);
            }
          });
        }
        await window.drain();
        this.consumers.delete(messages);
      } catch (e) {
        if (this.isStopping()) return;
        log.warn({ err: e, origin: source.partner, attempt }, `not receiving from ${source.partner}; retrying`);
      } finally {
        if (nc !== undefined) {
          this.connections.delete(nc);
          await nc.close().catch(() => undefined);
        }
      }
      if (!this.isStopping()) await sleep(Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)));
    }
  }

  private async handle(origin: string, m: JsMsg): Promise<void> {
    const { js, log } = this.options;
    const token = m.string();
    const verified = await this.verify(token);
    let code: string;
    let detail: string | undefined;
    if (verified.ok) {
      const { iss, jti, wbx_type: type } = verified.claims as { iss: string; jti: string; wbx_type: string };
      if (iss === origin) {
        await js.publish(`wbx.in.${origin}.${type}`, token, { msgID: jti, expect: { streamName: INBOX_STREAM } });
        m.ack();
        return;
      }
      code = 'UNKNOWN_ISSUER';
      detail = `${iss}'s event in ${origin}'s share stream`;
    } else {
      // Not a refusal of the presentation but a failure of the verifier: retried later.
      if (verified.code === 'INTERNAL') throw new Error(`verifying failed: ${verified.detail}`);
      code = verified.code;
      detail = verified.detail;
    }
    log.warn({ origin, seq: m.seq, code, detail }, 'presentation quarantined');
    const h = headers();
    h.set('Wbx-Error-Code', code);
    h.set('Wbx-Origin-Seq', String(m.seq));
    await js.publish(`wbx.quarantine.${origin}`, token, {
      headers: h,
      msgID: `${origin}-${String(m.seq)}`,
      expect: { streamName: QUARANTINE_STREAM },
    });
    m.ack();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const m of this.consumers) await m.close().catch(() => undefined);
    for (const nc of this.connections) await nc.close().catch(() => undefined);
    await Promise.all(this.loops);
    this.loops.length = 0;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }
} // prettier-ignore
