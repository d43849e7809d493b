import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
} from '@nats-io/jetstream';

import { AUDIT_STREAM, encodeAuditEntry, hashBytes, tryDecodeAuditEntry, type AuditEntry } from '../entry.js';
import { AuditError } from '../errors.js';
import { loadHead, type Head } from './head.js';

/** The chain position an entry is built on. */
export type ChainEnd = Pick<Head, 'seq' | 'hash' | 'lastCheckpoint' | 'latestAt'>;

/** Builds the entry that continues `end`; undefined: nothing to write (an empty checkpoint). */
export type BuildEntry<E extends AuditEntry = AuditEntry> = (end: ChainEnd) => E | undefined;

export interface ChainWriterOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly origin: string;
  readonly subject: string;
  /** The chain as loaded from the stream. */
  readonly head: Head;
  /** Asked after each entry is issued: an entry to write right behind it (the every-N checkpoint). */
  readonly interpose?: (end: ChainEnd) => BuildEntry | undefined;
  /** Failures of interposed entries (no caller awaits them). */
  readonly onError: (error: unknown) => void;
  /** Called whenever entries were stored. */
  readonly onStored?: () => void;
  /** Called for each entry of this writer once it is stored, in chain order. */
  readonly onEntryStored?: (entry: AuditEntry, hash: string, streamSeq: number) => void;
  /** Called once, when the writer finds the chain broken and fails for good (see `ChainWriter.failure`). */
  readonly onFailure?: (error: AuditError) => void;
  /** Called for each conflict: another writer extended the chain; the entries not stored are rebuilt. */
  readonly onConflict?: (conflict: ChainConflict) => void;
}

/**
 * A lost compare-and-set: the chain's head was not the one this writer built on, because another writer
 * (same origin, same subject) stored entries first. The writer's entries not stored are rebuilt on the
 * new head and written again.
 */
export interface ChainConflict {
  readonly subject: string;
  /** The chain seq and stream seq of the head this writer had built on (its last entry stored). */
  readonly expectedSeq: number;
  readonly expectedStreamSeq: number;
  /** The chain seq and stream seq of the head found in the stream. */
  readonly foundSeq: number;
  readonly foundStreamSeq: number;
  /** How many writes are rebuilt on the new head and retried. */
  readonly retried: number;
  /** Conflicts in a row (reset when an entry of this writer is stored). */
  readonly inARow: number;
}

/** How long an entry keeps being rewritten while other writers keep extending the chain (or the stream
 * cannot be read) before its write is rejected. */
export const CONFLICT_BUDGET_MS = 30_000;

/** Publishes in flight at most; after a recovery the window starts at 1 and grows by one per stored entry
 * (doubling each round trip), so that a stream other subjects keep writing to degrades to one at a time. */
const MAX_IN_FLIGHT = 1_024;

/** nats-server JSStreamWrongLastMsgIDErrF (not in JetStreamApiCodes). */
const WRONG_LAST_MSG_ID = 10_070;

/** The server refused the publish because the chain moved on: the guard worked. */
const isGuardFailure = (e: unknown): boolean =>
  e instanceof JetStreamApiError &&
  (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === WRONG_LAST_MSG_ID);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Job {
  readonly build: BuildEntry;
  /** performance.now() when written: the budget runs from here. */
  readonly since: number;
  /** Every version of its entry issued so far, by hash: a publish whose ack was lost may be stored late,
   * after the entry was rebuilt on a reread head. */
  readonly tried: Map<string, AuditEntry>;
  readonly resolve: (entry: AuditEntry | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/** The end of what has been issued (stored or in flight). */
interface Tip extends ChainEnd {
  /** Stream sequence of the last issued entry: known or predicted; undefined while the first entry after
   * a (re)load is in flight (nothing is pipelined behind it until its ack tells). */
  readonly streamSeq: number | undefined;
  /** Nats-Msg-Id of the last issued entry; undefined for a head read from the stream. */
  readonly msgId: string | undefined;
}

/** sent: awaiting the ack; stored: acknowledged; refused: the server answered with an error (not
 * stored); unknown: no answer (timeout, disconnect), maybe stored. */
type Outcome = 'sent' | 'stored' | 'refused' | 'unknown';

interface Issued {
  readonly job: Job;
  readonly entry: AuditEntry;
  readonly bytes: Uint8Array;
  readonly hash: string;
  readonly msgId: string;
  /** The stream sequence it gets if nothing else is stored in between (undefined: not known). */
  readonly predicted: number | undefined;
  outcome: Outcome;
  streamSeq: number;
  error: unknown;
}

const tipOf = (head: Head): Tip => ({ ...head, msgId: undefined });

function after(end: ChainEnd, entry: AuditEntry, hash: string): ChainEnd {
  const at = Date.parse(entry.at);
  const checkpoint = entry.kind === 'checkpoint';
  return {
    seq: entry.seq,
    hash,
    lastCheckpoint: checkpoint ? entry.seq : end.lastCheckpoint,
    latestAt: checkpoint ? at : Math.max(end.latestAt, at),
  };
}

/**
 * The single writer of one origin's chain, pipelined: it builds each entry on the end of the entries
 * already issued and keeps up to {@link MAX_IN_FLIGHT} publishes in flight. Every publish is guarded, so
 * that the stream only ever stores an entry right after its predecessor:
 * - the first entry after the head was read from the stream expects the subject's last stream sequence
 *   to be the head's (as a serial writer would);
 * - each later one expects the subject's last sequence to be its predecessor's predicted stream
 *   sequence (one more than the one before, known from the first ack) and the stream's last message id
 *   to be its predecessor's — `audit-<origin>-<seq>-<hash>`, unique to the predecessor's bytes.
 * So an entry is stored only if all its predecessors are, in order, with nothing in between: a lost or
 * refused publish makes its successors fail, and a second writer (or a message of another subject in
 * the stream) makes the next publish fail, never fork the chain.
 *
 * This is a compare-and-set on the subject's last sequence, decided by the stream's leader, one publish
 * at a time: of two writers that build entry n on the same head, exactly one is stored, the other is
 * refused (guard failure). The loser rereads the head, rebuilds its entry as n+1 on the winner's, and
 * retries; each such conflict is reported to `onConflict` (the two heads' sequences). Several writers
 * of one origin therefore never fork the chain; they only take turns (jittered backoff). It relies on the
 * server serialising the expected-last-subject-sequence check also in a cluster: nats-server 2.9.21 and
 * later (2.9.10, Debian 12's, does not, and R3 writers can fork there).
 *
 * After any failure, issuing stops until the publishes in flight have settled; then the writer reads
 * the stream: entries whose ack was lost are recognised by their hash, the head is reloaded, and what is
 * not stored is rebuilt on it and written again, in the original order. A write resolves only once its
 * own entry is stored; it is rejected only when it is known not to be stored (a refusal other than a
 * guard, or {@link CONFLICT_BUDGET_MS} of conflicts) or after the budget without an answer.
 *
 * The reread head must continue the chain this writer knew: the entry it stored last still at its stream
 * sequence, and every entry after it linked to it. Otherwise (the stream was purged, truncated, or filled
 * with something else) the writer never starts or continues another chain: it fails with CHAIN_BROKEN,
 * rejects every write waiting and every later one, and exposes the error as {@link ChainWriter.failure}.
 */
export class ChainWriter {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #origin: string;
  readonly #subject: string;
  readonly #interpose: ((end: ChainEnd) => BuildEntry | undefined) | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #onStored: () => void;
  readonly #onEntryStored: (entry: AuditEntry, hash: string, streamSeq: number) => void;
  readonly #onFailure: (error: AuditError) => void;
  readonly #onConflict: (conflict: ChainConflict) => void;
  #failure: AuditError | undefined;
  #head: Head;
  #tip: Tip;
  #jobs: Job[] = [];
  #inflight: Issued[] = [];
  #sending = 0;
  #limit = 1;
  #recovering = false;
  #recovery: Promise<void> | undefined;
  #conflicts = 0;
  #scheduled = false;

  constructor(options: ChainWriterOptions) {
    this.#js = options.js;
    this.#jsm = options.jsm;
    this.#origin = options.origin;
    this.#subject = options.subject;
    this.#interpose = options.interpose;
    this.#onError = options.onError;
    this.#onStored = options.onStored ?? (() => undefined);
    this.#onEntryStored = options.onEntryStored ?? (() => undefined);
    this.#onFailure = options.onFailure ?? (() => undefined);
    this.#onConflict = options.onConflict ?? (() => undefined);
    this.#head = options.head;
    this.#tip = tipOf(options.head);
  }

  /** The last entry stored (and every one before it). */
  get head(): Head {
    return this.#head;
  }

  /** Why the writer failed for good (CHAIN_BROKEN), if it did: every write is then rejected with it. */
  get failure(): AuditError | undefined {
    return this.#failure;
  }

  /** The end of the entries issued so far (stored or in flight). */
  get end(): ChainEnd {
    return this.#tip;
  }

  /** Writes the entry `build` makes on the chain's end, after all earlier writes; resolves once stored
   * (to undefined, without writing, if `build` returns undefined). */
  write<E extends AuditEntry>(build: (end: ChainEnd) => E): Promise<E>;
  write<E extends AuditEntry>(build: BuildEntry<E>): Promise<E | undefined>;
  write(build: BuildEntry): Promise<AuditEntry | undefined> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined) {
        reject(this.#failure);
        return;
      }
      this.#jobs.push({ build, since: performance.now(), tried: new Map(), resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#failure !== undefined) {
      this.#abandon(this.#failure);
      return;
    }
    if (!this.#recovering) {
      // Issue on the next turn of the event loop: the appends made in this one (e.g. on a batch of
      // acks) then go out in one socket write.
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#pump();
      });
      return;
    }
    if (this.#sending > 0 || this.#recovery !== undefined) return;
    if (this.#inflight.length === 0 && this.#jobs.length === 0) return;
    this.#recovery = this.#recover();
  }

  #pump(): void {
    while (!this.#recovering && this.#inflight.length < this.#limit && this.#tip.streamSeq !== undefined) {
      const job = this.#jobs.shift();
      if (job === undefined) return;
      this.#issue(job, this.#tip.streamSeq);
    }
  }

  #issue(job: Job, expectedSubjectSeq: number): void {
    const tip = this.#tip;
    let entry: AuditEntry | undefined;
    try {
      entry = job.build(tip);
    } catch (e) {
      job.reject(e);
      return;
    }
    if (entry === undefined) {
      job.resolve(undefined);
      return;
    }
    const bytes = encodeAuditEntry(entry);
    const hash = hashBytes(bytes);
    const msgId = `audit-${this.#origin}-${entry.seq}-${hash}`;
    job.tried.set(hash, entry);
    const predicted = tip.msgId === undefined ? undefined : expectedSubjectSeq + 1;
    const issued: Issued = {
      job,
      entry,
      bytes,
      hash,
      msgId,
      predicted,
      outcome: 'sent',
      streamSeq: 0,
      error: undefined,
    };
    this.#inflight.push(issued);
    this.#sending += 1;
    this.#tip = { ...after(tip, entry, hash), streamSeq: predicted, msgId };
    const expect: JetStreamPublishOptions['expect'] =
      tip.msgId === undefined
        ? { lastSubjectSequence: expectedSubjectSeq }
        : { lastSubjectSequence: expectedSubjectSeq, lastMsgID: tip.msgId };
    void this.#send(issued, expect);
    const next = this.#interpose?.(this.#tip);
    if (next !== undefined) {
      this.#jobs.unshift({
        build: next,
        since: performance.now(),
        tried: new Map(),
        resolve: () => undefined,
        reject: this.#onError,
      });
    }
  }

  async #send(issued: Issued, expect: JetStreamPublishOptions['expect']): Promise<void> {
    try {
      const ack = await this.#js.publish(this.#subject, issued.bytes, { msgID: issued.msgId, expect });
      // A duplicate (same msg id, so the same bytes, within the window) is ours if the bytes are.
      if (ack.duplicate && !(await this.#holds(ack.seq, issued.bytes))) issued.outcome = 'unknown';
      else {
        issued.outcome = 'stored';
        issued.streamSeq = ack.seq;
      }
    } catch (e) {
      issued.error = e;
      issued.outcome = e instanceof JetStreamApiError ? 'refused' : 'unknown';
    }
    this.#sending -= 1;
    this.#settled(issued);
  }

  async #holds(streamSeq: number, bytes: Uint8Array): Promise<boolean> {
    const stored = await this.#jsm.streams.getMessage(AUDIT_STREAM, { seq: streamSeq });
    return stored !== null && Buffer.from(stored.data).equals(Buffer.from(bytes));
  }

  #settled(issued: Issued): void {
    if (issued.outcome === 'stored') {
      if (issued === this.#inflight.at(-1)) {
        // The last one issued: the next publish expects its real stream sequence.
        if (this.#tip.streamSeq !== issued.streamSeq)
          this.#tip = { ...this.#tip, streamSeq: issued.streamSeq };
      } else if (issued.predicted !== issued.streamSeq) {
        // Something else was stored in between: the successors in flight expect the wrong sequence.
        this.#recovering = true;
      }
    } else {
      this.#recovering = true;
    }
    let stored = false;
    for (let done = this.#inflight[0]; done?.outcome === 'stored'; done = this.#inflight[0]) {
      this.#inflight.shift();
      this.#store(done.job, done.entry, done.hash, done.streamSeq);
      stored = true;
    }
    if (stored) {
      this.#conflicts = 0;
      this.#onStored();
    }
    this.#kick();
  }

  /** Records `job`'s `entry` as stored at `streamSeq` (the head moves) and resolves its write. */
  #store(job: Job, entry: AuditEntry, hash: string, streamSeq: number): void {
    this.#head = { ...after(this.#head, entry, hash), streamSeq };
    this.#limit = Math.min(MAX_IN_FLIGHT, this.#limit + 1);
    this.#onEntryStored(entry, hash, streamSeq);
    job.resolve(entry);
  }

  async #recover(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        if (await this.#reconcile()) {
          // Another writer extended the chain: jittered backoff, so that writers take turns.
          this.#conflicts += 1;
          await sleep(Math.random() * Math.min(100, 2 ** this.#conflicts));
        }
        break;
      } catch (e) {
        if (e instanceof AuditError && e.code === 'CHAIN_BROKEN') {
          this.#fail(e);
          this.#recovery = undefined;
          return;
        }
        // The stream cannot be read (the server is restarting?): retry, within the budget.
        const oldest = Math.min(this.#inflight[0]?.job.since ?? Infinity, this.#jobs[0]?.since ?? Infinity);
        if (performance.now() - oldest > CONFLICT_BUDGET_MS) this.#abandon(e);
        if (this.#inflight.length === 0 && this.#jobs.length === 0) {
          // Nothing waits; the next write recovers first (#recovering stays set).
          this.#recovery = undefined;
          return;
        }
        await sleep(Math.min(1_000, 10 * 2 ** attempt));
      }
    }
    this.#recovering = false;
    this.#recovery = undefined;
    this.#onStored();
    this.#pump();
  }

  /** Fails for good: rejects what waits and, from now on, every write. */
  #fail(error: AuditError): void {
    this.#failure = error;
    this.#abandon(error);
    this.#onFailure(error);
  }

  /** Rejects every write waiting; their entries may or may not be stored. */
  #abandon(error: unknown): void {
    for (const issued of this.#inflight.splice(0)) issued.job.reject(error);
    for (const job of this.#jobs.splice(0)) job.reject(error);
  }

  /**
   * With nothing in flight: resolves what is stored, reloads the head and queues what is not stored
   * again, in order, to be rebuilt on the new head. Returns whether another writer extended the chain.
   * Safe to run again if it throws (it only resolves what it found stored).
   */
  async #reconcile(): Promise<boolean> {
    // An entry is stored only after its predecessor: one acknowledged means all before it are stored,
    // also those whose ack was lost.
    const lastStored = this.#inflight.findLastIndex((i) => i.outcome === 'stored');
    if (lastStored >= 0 && this.#inflight.slice(0, lastStored).every((i) => i.outcome !== 'refused')) {
      for (const i of this.#inflight.splice(0, lastStored + 1))
        this.#store(i.job, i.entry, i.hash, i.streamSeq);
    }
    const before = this.#head;
    let loaded: Head;
    try {
      loaded = await loadHead(this.#jsm, this.#subject, before);
    } catch (e) {
      if (!(e instanceof AuditError) || e.code !== 'CORRUPT_HEAD') throw e;
      throw new AuditError('CHAIN_BROKEN', `${this.#subject}: ${e.message}`, { cause: e });
    }
    await this.#checkContinues(before, loaded);
    // Read after the head: what a late publish stores from now on makes the next guard fail, and the next
    // round finds it.
    await this.#matchStored(loaded.streamSeq);
    const conflict = loaded.seq !== this.#head.seq || loaded.hash !== this.#head.hash;
    const now = performance.now();
    const again: Job[] = [];
    for (const issued of this.#inflight) {
      const { job, error, outcome } = issued;
      if (outcome === 'refused' && !isGuardFailure(error)) job.reject(error);
      else if (now - job.since <= CONFLICT_BUDGET_MS) again.push(job);
      else if (conflict || outcome === 'refused' || error === undefined) {
        job.reject(new AuditError('CONFLICT', `other writers kept extending ${this.#subject}; gave up`));
      } else job.reject(error);
    }
    this.#inflight = [];
    this.#jobs.unshift(...again);
    if (conflict) {
      this.#onConflict({
        subject: this.#subject,
        expectedSeq: this.#head.seq,
        expectedStreamSeq: this.#head.streamSeq,
        foundSeq: loaded.seq,
        foundStreamSeq: loaded.streamSeq,
        retried: again.length,
        inARow: this.#conflicts + 1,
      });
    }
    this.#head = loaded;
    this.#tip = tipOf(loaded);
    this.#limit = 1;
    return conflict;
  }

  /**
   * Throws CHAIN_BROKEN unless `loaded` continues `before`: `before` is still stored where it was, and
   * each entry from there to `loaded` carries the next seq and the previous entry's hash. (Another
   * writer of the same chain passes; a purge, a truncation, a rebuilt stream or foreign entries do not.)
   */
  async #checkContinues(before: Head, loaded: Head): Promise<void> {
    if (before.seq === 0) return;
    const broken = (detail: string): AuditError =>
      new AuditError('CHAIN_BROKEN', `${this.#subject}: ${detail}; refusing to continue another chain`);
    if (loaded.seq < before.seq || loaded.streamSeq < before.streamSeq) {
      throw broken(
        `the chain now ends at seq ${loaded.seq}, before entry ${before.seq} that this writer stored: ` +
          'the stream was purged or truncated',
      );
    }
    let seq = loaded.seq;
    let hash = loaded.hash;
    for (let s = loaded.streamSeq; s >= before.streamSeq; s -= 1) {
      const m = await this.#jsm.streams.getMessage(AUDIT_STREAM, { seq: s });
      const here = m !== null && m.subject === this.#subject;
      if (s === before.streamSeq) {
        if (here && seq === before.seq && hash === before.hash && hashBytes(m.data) === hash) return;
        break;
      }
      if (!here) continue;
      if (hashBytes(m.data) !== hash) throw broken(`stream seq ${s} is not the entry the chain links to`);
      const d = tryDecodeAuditEntry(m.data);
      if (!d.ok || d.entry.seq !== seq) throw broken(`stream seq ${s} is not entry ${seq} of the chain`);
      seq -= 1;
      hash = d.entry.prev;
    }
    throw broken(
      `stream seq ${before.streamSeq} no longer holds entry ${before.seq} that this writer stored: ` +
        'the stream was purged, truncated or rebuilt',
    );
  }

  /**
   * Resolves the writes whose entries the stream holds right after the head, up to stream seq `upTo`:
   * in order, the writes in flight and then those waiting, each matched by the hash of any version of
   * its entry issued so far (a version refused by a guard may have lost to an earlier one stored late).
   */
  async #matchStored(upTo: number): Promise<void> {
    for (let s = this.#head.streamSeq + 1; s <= upTo; s += 1) {
      const next = this.#inflight[0];
      const job = next?.job ?? this.#jobs[0];
      if (job === undefined || job.tried.size === 0) return;
      const m = await this.#jsm.streams.getMessage(AUDIT_STREAM, { seq: s });
      if (m === null || m.subject !== this.#subject) continue;
      const hash = hashBytes(m.data);
      const entry = job.tried.get(hash);
      if (entry === undefined) return;
      if (next === undefined) this.#jobs.shift();
      else this.#inflight.shift();
      this.#store(job, entry, hash, m.seq);
    }
  }
}
