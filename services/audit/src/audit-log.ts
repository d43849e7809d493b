import type { KeyObject } from 'node:crypto';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { ManifestBody } from '@wbx/registry';

import type { AuditAnchor, AuditAnchorStore } from './anchor.js';
import {
  auditSubject,
  disclosureRecordSchema,
  GENESIS_HASH,
  type AuditEntry,
  type CheckpointEntry,
  type DisclosureEntry,
  type DisclosureRecord,
} from './entry.js';
import { AuditError } from './errors.js';
import { ChainWriter, type ChainConflict, type ChainEnd } from './internal/chain-writer.js';
import { signCheckpoint } from './internal/checkpoint-signature.js';
import { loadHead, type Head } from './internal/head.js';
import { checkChainAtOpen, checkGenesis, checkpointKeys } from './internal/open-check.js';
import { ensureAuditStream } from './stream.js';

export type { ChainConflict } from './internal/chain-writer.js';

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
  /**
   * Failures no caller awaits: checkpoints (timer, every-N; the next append or tick retries), saving the
   * anchor, and — once — the CHAIN_BROKEN that fails the log (see {@link AuditLog.failure}).
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Told of each conflict with another writer of the same origin (another replica appended first): the
   * append is rebuilt on the new head and retried; nothing is lost or forked. Default: nothing.
   */
  readonly onConflict?: (conflict: ChainConflict) => void;
  /**
   * Where the latest checkpoint this log stored is kept, outside the stream. At open, a stream that
   * does not hold the anchored checkpoint is refused (ANCHOR_MISMATCH), and an empty one is not
   * restarted. Without it, a purge between two runs is detected only by `verifyAuditChain` with an anchor.
   */
  readonly anchor?: AuditAnchorStore;
  /**
   * The manifest whose keys of `origin` checkpoints already in the stream are checked against at open
   * (after a key rotation the genesis is signed by an older key); without it only the signer's key is
   * accepted.
   */
  readonly manifest?: ManifestBody;
}

/**
 * The origin's tamper-evident disclosure log in `WBX_AUDIT`: a hash chain that starts with a signed
 * genesis checkpoint, then disclosure entries with a checkpoint signed by the partner's key every N
 * entries or T ms, and one at `close()`. The log is the
 * single writer of its subject, so it builds entries on the ones still in flight and keeps many
 * publishes in flight (in call order); each publish is guarded by its predecessor's stream sequence and
 * message id, so a lost publish or a second writer is detected, never forked: the log then rereads the
 * head and rewrites what is missing, in order (see `ChainWriter`).
 *
 * The log never starts a chain over an existing one, nor continues one that is not the one it knew: at
 * open, the chain must start with a signed genesis and hold the anchored checkpoint; while running, a
 * reread head must continue the last entry stored. Otherwise it throws (open) or fails for good
 * (CHAIN_BROKEN: every append is rejected, {@link AuditLog.failure} says why).
 */
export class AuditLog {
  readonly #signer: AuditSigner;
  readonly #everyEntries: number;
  readonly #everyMs: number;
  readonly #now: () => Date;
  readonly #onError: (error: unknown) => void;
  readonly #writer: ChainWriter;
  readonly #origin: string;
  readonly #anchor: AuditAnchorStore | undefined;
  #anchorSaved: Promise<void> = Promise.resolve();
  #anchorError: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: AuditLogOptions, head: Head) {
    this.#signer = options.signer;
    this.#everyEntries = options.checkpointEvery?.entries ?? 1000;
    this.#everyMs = options.checkpointEvery?.ms ?? 10_000;
    this.#now = options.now ?? (() => new Date());
    this.#onError = options.onError ?? (() => undefined);
    this.#origin = options.origin;
    this.#anchor = options.anchor;
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
      onEntryStored: (entry, hash, streamSeq) => this.#stored(entry, hash, streamSeq),
      onFailure: (e) => {
        this.#disarm();
        this.#onError(e);
      },
      ...(options.onConflict === undefined ? {} : { onConflict: options.onConflict }),
    });
  }

  /**
   * Ensures the stream, recovers the head from its last entry, checks the chain (signed genesis, anchored
   * checkpoint, linked entries since the last checkpoint) and returns a log that continues it; on an
   * empty chain (and no anchor) writes its genesis. Throws CHAIN_BROKEN, ANCHOR_MISMATCH, CORRUPT_HEAD,
   * INVALID_ANCHOR or INVALID_OPTIONS.
   */
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
    const anchor = await options.anchor?.load();
    if (anchor !== undefined && anchor.origin !== options.origin) {
      throw new AuditError(
        'INVALID_ANCHOR',
        `the anchor is ${anchor.origin}'s chain, not ${options.origin}'s`,
      );
    }
    const keys = checkpointKeys(options.origin, options.signer, options.manifest);
    const head = await loadHead(options.jsm, subject);
    await checkChainAtOpen(options.jsm, subject, head, anchor, keys);
    const log = new AuditLog(options, head);
    if (head.seq === 0) {
      // A new chain: its signed genesis first (and anchored) — unless another writer was quicker.
      if ((await log.#writer.write(log.#genesis)) === undefined)
        await checkGenesis(options.jsm, subject, keys);
      await log.#anchorSaved;
      if (log.#anchorError !== undefined) throw log.#anchorError;
    }
    log.#arm(); // entries left unsealed by a crash get their checkpoint T ms from now
    return log;
  }

  /**
   * Why the log failed for good, if it did: CHAIN_BROKEN when the stream no longer continues the chain
   * this log wrote (purged, truncated, filled by someone else). Every append is then rejected with it;
   * nothing may be disclosed that cannot be audited.
   */
  get failure(): AuditError | undefined {
    return this.#writer.failure;
  }

  /** The last entry stored (or loaded): chain position and hash (seq 0: empty). */
  get head(): { readonly seq: number; readonly hash: string } {
    const { seq, hash } = this.#writer.head;
    return { seq, hash };
  }

  /**
   * Appends one disclosure after every earlier append; resolves once it is stored (with its chain
   * position). Throws INVALID_RECORD, CLOSED, CONFLICT (other writers kept extending the chain for 30 s),
   * CHAIN_BROKEN (see {@link AuditLog.failure}), or the publish error if the stream refuses it or stays
   * unreachable for 30 s.
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
    try {
      return await this.#writer.write(this.#seal);
    } finally {
      await this.#anchorSaved;
    }
  }

  /** Anchors each checkpoint this log stored (in order; a failed save is reported, the next one retries). */
  #stored(entry: AuditEntry, hash: string, streamSeq: number): void {
    const store = this.#anchor;
    if (store === undefined || entry.kind !== 'checkpoint') return;
    const anchor: AuditAnchor = { origin: this.#origin, seq: entry.seq, hash, streamSeq, at: entry.at };
    this.#anchorSaved = this.#anchorSaved.then(() =>
      store.save(anchor).then(
        () => {
          this.#anchorError = undefined;
        },
        (e: unknown) => {
          this.#anchorError = e instanceof Error ? e : new Error(String(e));
          this.#onError(e);
        },
      ),
    );
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#everyMs <= 0 || this.#closed || this.failure !== undefined) return;
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

  /** The genesis checkpoint of a chain that is still empty (none if another writer created it). */
  readonly #genesis = (end: ChainEnd): CheckpointEntry | undefined => {
    if (end.seq !== 0) return undefined;
    return signCheckpoint(
      {
        kind: 'checkpoint',
        seq: 1,
        prev: GENESIS_HASH,
        at: this.#now().toISOString(),
        covers: { from: 1, to: 0 },
        head: GENESIS_HASH,
        kid: this.#signer.kid,
      },
      this.#signer.privateKey,
    );
  };

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
