import type { KeyObject } from 'node:crypto';

import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
} from '@nats-io/jetstream';

import {
  AUDIT_STREAM,
  auditSubject,
  disclosureRecordSchema,
  encodeAuditEntry,
  hashBytes,
  type AuditEntry,
  type CheckpointEntry,
  type DisclosureEntry,
  type DisclosureRecord,
} from './entry.js';
import { AuditError } from './errors.js';
import { signCheckpoint } from './internal/checkpoint-signature.js';
import { loadHead, type Head } from './internal/head.js';
import { ensureAuditStream } from './stream.js';

/** The partner's signing key for checkpoints; `kid` must be one of the origin's (`<origin>#…`). */
export interface AuditSigner {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

export interface AuditLogOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The partner whose disclosures are audited: subject `wbx.audit.<origin>`. */
  readonly origin: string;
  readonly signer: AuditSigner;
  /** Write a checkpoint after `entries` disclosures (default 1000) or `ms` after the first unsealed one
   * (default 10 000; 0 turns the timer off), whichever comes first. */
  readonly checkpointEvery?: { readonly entries?: number; readonly ms?: number };
  /** Clock for `at` (default: the system clock). */
  readonly now?: () => Date;
  /** Stream replicas when the stream is created (3 on a NATS cluster). */
  readonly replicas?: number;
  /** Failures of checkpoints not awaited by a caller (timer, every-N); the next append or tick retries. */
  readonly onError?: (error: unknown) => void;
}

/** How long an append keeps retrying while other writers keep extending the chain. */
const CONFLICT_BUDGET_MS = 30_000;

const isWrongLastSequence = (e: unknown): boolean =>
  e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamWrongLastSequence;

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/**
 * The origin's tamper-evident disclosure log in `WBX_AUDIT`: a hash chain of disclosure entries with a
 * checkpoint signed by the partner's key every N entries or T ms, and one at `close()`. Appends are
 * serialised in process; across processes each publish expects the subject's last stream sequence, so
 * two writers cannot fork the chain (the loser reloads the head and retries).
 */
export class AuditLog {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #origin: string;
  readonly #subject: string;
  readonly #signer: AuditSigner;
  readonly #everyEntries: number;
  readonly #everyMs: number;
  readonly #now: () => Date;
  readonly #onError: (error: unknown) => void;
  #head: Head;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: AuditLogOptions, head: Head) {
    this.#js = options.js;
    this.#jsm = options.jsm;
    this.#origin = options.origin;
    this.#subject = auditSubject(options.origin);
    this.#signer = options.signer;
    this.#everyEntries = options.checkpointEvery?.entries ?? 1000;
    this.#everyMs = options.checkpointEvery?.ms ?? 10_000;
    this.#now = options.now ?? (() => new Date());
    this.#onError = options.onError ?? (() => undefined);
    this.#head = head;
  }

  /** Ensures the stream, recovers the head from its last entry and returns a log that continues it. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const subject = auditSubject(options.origin);
    const { kid, privateKey } = options.signer;
    if (!kid.startsWith(`${options.origin}#`)) {
      throw new AuditError('INVALID_OPTIONS', `signer: ${kid} is not a key of ${options.origin}`);
    }
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
      throw new AuditError('INVALID_OPTIONS', 'signer: the key must be an Ed25519 private key');
    }
    const { entries = 1000, ms = 10_000 } = options.checkpointEvery ?? {};
    if (!Number.isSafeInteger(entries) || entries < 1 || !Number.isFinite(ms) || ms < 0) {
      throw new AuditError('INVALID_OPTIONS', 'checkpointEvery: entries must be ≥ 1, ms ≥ 0');
    }
    await ensureAuditStream(options.jsm, options.origin, { replicas: options.replicas });
    const log = new AuditLog(options, await loadHead(options.jsm, subject));
    log.#arm(); // entries left unsealed by a crash get their checkpoint T ms from now
    return log;
  }

  /** The last entry written or loaded: chain position and hash (seq 0: empty). */
  get head(): { readonly seq: number; readonly hash: string } {
    return { seq: this.#head.seq, hash: this.#head.hash };
  }

  /** Appends one disclosure; resolves once it is stored. Throws INVALID_RECORD, CLOSED, CONFLICT. */
  append(record: DisclosureRecord): Promise<DisclosureEntry> {
    if (this.#closed) return Promise.reject(new AuditError('CLOSED', 'the audit log is closed'));
    const parsed = disclosureRecordSchema.safeParse(record);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`);
      return Promise.reject(
        new AuditError('INVALID_RECORD', `invalid disclosure record: ${issues.join('; ')}`),
      );
    }
    const { recipient, agreementId, eventId, eventType, mode, purpose, eventIds, reason } = parsed.data;
    const paths = [...new Set(parsed.data.paths)].sort();
    return this.#enqueue(async () => {
      const entry = await this.#write((head) => ({
        kind: 'disclosure',
        seq: head.seq + 1,
        prev: head.hash,
        at: this.#now().toISOString(),
        recipient,
        agreementId,
        eventId,
        eventType,
        paths,
        mode,
        ...(purpose === undefined ? {} : { purpose }),
        ...(eventIds === undefined ? {} : { eventIds }),
        ...(reason === undefined ? {} : { reason }),
      }));
      if (this.#pending() >= this.#everyEntries) await this.#checkpoint().catch(this.#onError);
      this.#arm(); // no-op if sealed; else the timer retries a failed checkpoint
      return entry;
    });
  }

  /** Writes a checkpoint now if any entry is unsealed; resolves to it (undefined if nothing to seal). */
  checkpoint(): Promise<CheckpointEntry | undefined> {
    if (this.#closed) return Promise.reject(new AuditError('CLOSED', 'the audit log is closed'));
    return this.#enqueue(() => this.#checkpoint());
  }

  /** Waits for queued appends, writes a final checkpoint and refuses further appends. */
  async close(): Promise<CheckpointEntry | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    this.#disarm();
    return this.#enqueue(() => this.#checkpoint());
  }

  #pending(): number {
    return this.#head.seq - this.#head.lastCheckpoint;
  }

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#everyMs <= 0 || this.#closed || this.#pending() === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) void this.#enqueue(() => this.#checkpoint()).catch(this.#onError);
    }, this.#everyMs);
    this.#timer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #checkpoint(): Promise<CheckpointEntry | undefined> {
    this.#disarm();
    return this.#write((head) => {
      if (head.seq === head.lastCheckpoint) return undefined;
      const at = new Date(Math.max(this.#now().getTime(), head.latestAt)).toISOString();
      return signCheckpoint(
        {
          kind: 'checkpoint',
          seq: head.seq + 1,
          prev: head.hash,
          at,
          covers: { from: head.lastCheckpoint + 1, to: head.seq },
          head: head.hash,
          kid: this.#signer.kid,
        },
        this.#signer.privateKey,
      );
    });
  }

  /**
   * Publishes the entry `build` makes from the head, expecting the subject's last stream sequence to be
   * the head's. On a conflict (another writer got there first) reloads the head and builds again.
   */
  async #write<E extends AuditEntry | undefined>(build: (head: Head) => E): Promise<E> {
    const deadline = performance.now() + CONFLICT_BUDGET_MS;
    for (let attempt = 1; ; attempt += 1) {
      const head = this.#head;
      const entry = build(head);
      if (entry === undefined) return entry;
      const bytes = encodeAuditEntry(entry);
      const ack = await this.#publish(entry.seq, bytes, head.streamSeq);
      if (ack !== undefined) {
        const at = Date.parse(entry.at);
        this.#head = {
          seq: entry.seq,
          hash: hashBytes(bytes),
          streamSeq: ack.seq,
          lastCheckpoint: entry.kind === 'checkpoint' ? entry.seq : head.lastCheckpoint,
          latestAt: entry.kind === 'checkpoint' ? at : Math.max(head.latestAt, at),
        };
        return entry;
      }
      if (performance.now() > deadline) {
        throw new AuditError('CONFLICT', `other writers kept extending ${this.#subject}; gave up`);
      }
      // Jittered backoff, so that two writers with a backlog take turns instead of one starving.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));
      this.#head = await loadHead(this.#jsm, this.#subject, head);
    }
  }

  /** The ack if this entry is stored, undefined on a conflict. */
  async #publish(seq: number, bytes: Uint8Array, expected: number): Promise<PubAck | undefined> {
    let ack: PubAck;
    try {
      ack = await this.#js.publish(this.#subject, bytes, {
        msgID: `audit-${this.#origin}-${seq}`,
        expect: { lastSubjectSequence: expected },
      });
    } catch (e) {
      if (isWrongLastSequence(e)) return undefined;
      throw e;
    }
    if (!ack.duplicate) return ack;
    // Same msg id within the duplicate window: ours (a retried publish) only if the bytes are ours.
    const stored = await this.#jsm.streams.getMessage(AUDIT_STREAM, { seq: ack.seq });
    return stored !== null && sameBytes(stored.data, bytes) ? ack : undefined;
  }
}
