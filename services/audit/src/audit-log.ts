import type { KeyObject } from 'node:crypto';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

import {
  auditSubject,
  disclosureRecordSchema,
  type CheckpointEntry,
  type DisclosureEntry,
  type DisclosureRecord,
} from './entry.js';
import { AuditError } from './errors.js';
import { ChainWriter, type ChainEnd } from './internal/chain-writer.js';
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

/**
 * The origin's tamper-evident disclosure log in `WBX_AUDIT`: a hash chain of disclosure entries with a
 * checkpoint signed by the partner's key every N entries or T ms, and one at `close()`. The log is the
 * single writer of its subject, so it builds entries on the ones still in flight and keeps many
 * publishes in flight (in call order); each publish is guarded by its predecessor's stream sequence and
 * message id, so a lost publish or a second writer is detected, never forked: the log then rereads the
 * head and rewrites what is missing, in order (see `ChainWriter`).
 */
export class AuditLog {
  readonly #signer: AuditSigner;
  readonly #everyEntries: number;
  readonly #everyMs: number;
  readonly #now: () => Date;
  readonly #onError: (error: unknown) => void;
  readonly #writer: ChainWriter;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: AuditLogOptions, head: Head) {
    this.#signer = options.signer;
    this.#everyEntries = options.checkpointEvery?.entries ?? 1000;
    this.#everyMs = options.checkpointEvery?.ms ?? 10_000;
    this.#now = options.now ?? (() => new Date());
    this.#onError = options.onError ?? (() => undefined);
    this.#writer = new ChainWriter({
      js: options.js,
      jsm: options.jsm,
      origin: options.origin,
      subject: auditSubject(options.origin),
      head,
      interpose: (end) => (end.seq - end.lastCheckpoint >= this.#everyEntries ? this.#seal : undefined),
      onError: (e) => {
        this.#onError(e);
        this.#arm(); // the timer retries a failed checkpoint
      },
      onStored: () => this.#arm(),
    });
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

  /** The last entry stored (or loaded): chain position and hash (seq 0: empty). */
  get head(): { readonly seq: number; readonly hash: string } {
    const { seq, hash } = this.#writer.head;
    return { seq, hash };
  }

  /**
   * Appends one disclosure after every earlier append; resolves once it is stored (with its chain
   * position). Throws INVALID_RECORD, CLOSED, CONFLICT (other writers kept extending the chain for 30 s),
   * or the publish error if the stream refuses it or stays unreachable for 30 s.
   */
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
    return this.#writer.write((end): DisclosureEntry => ({
      kind: 'disclosure',
      seq: end.seq + 1,
      prev: end.hash,
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
  }

  /** Writes a checkpoint after the appends made so far if any entry is unsealed; resolves to it once
   * stored (undefined if nothing to seal). */
  checkpoint(): Promise<CheckpointEntry | undefined> {
    if (this.#closed) return Promise.reject(new AuditError('CLOSED', 'the audit log is closed'));
    return this.#writer.write(this.#seal);
  }

  /** Waits for the appends made so far, writes a final checkpoint and refuses further appends. */
  async close(): Promise<CheckpointEntry | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    this.#disarm();
    return this.#writer.write(this.#seal);
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#everyMs <= 0 || this.#closed) return;
    const end = this.#writer.end;
    if (end.seq === end.lastCheckpoint) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#writer.write(this.#seal).catch(this.#onError);
    }, this.#everyMs);
    this.#timer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The checkpoint sealing the entries since the last one (none if there are none). */
  readonly #seal = (end: ChainEnd): CheckpointEntry | undefined => {
    if (end.seq === end.lastCheckpoint) return undefined;
    this.#disarm();
    const at = new Date(Math.max(this.#now().getTime(), end.latestAt)).toISOString();
    return signCheckpoint(
      {
        kind: 'checkpoint',
        seq: end.seq + 1,
        prev: end.hash,
        at,
        covers: { from: end.lastCheckpoint + 1, to: end.seq },
        head: end.hash,
        kid: this.#signer.kid,
      },
      this.#signer.privateKey,
    );
  };
}
