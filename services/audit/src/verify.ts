import type { KeyObject } from 'node:crypto';

import { RegistryError, resolveSigningKey, type ManifestBody } from '@wbx/registry';

import type { AuditAnchor } from './anchor.js';
import {
  auditSubject,
  encodeAuditEntry,
  GENESIS_HASH,
  hashBytes,
  isGenesis,
  PARTNER_CODE_RE,
  tryDecodeAuditEntry,
  type AuditEntry,
  type CheckpointEntry,
} from './entry.js';
import { AuditError } from './errors.js';
import { checkpointSignatureValid } from './internal/checkpoint-signature.js';

/** One stored message of the audit subject: its stream sequence and its bytes. */
export interface AuditMessage {
  readonly streamSeq: number;
  readonly data: Uint8Array | string;
  /** The subject it was stored under, if known: it must be the origin's `wbx.audit.<origin>`. */
  readonly subject?: string;
}

/** What the verifier and the report read: stored messages, or entries (then streamSeq is the position). */
export type AuditSource<T> = Iterable<T> | AsyncIterable<T>;

/**
 * Why the chain is broken at `firstBroken.seq`. Stable strings; add new ones, never rename.
 * - MALFORMED: the message is not an audit entry in canonical form (named by its position in the chain).
 * - SEQ_GAP: entries are missing; `seq` is the first missing one, `streamSeq` the message after the gap.
 * - SEQ_OUT_OF_ORDER: the entry at position `seq` carries a lower seq (replayed or duplicated).
 * - HASH_MISMATCH: entry `seq` is not what the chain committed to — its hash differs from the `prev` its
 *   successor recorded (so an altered entry is the one named); for seq 1, its `prev` is not the genesis.
 * - CHECKPOINT_MISMATCH: a checkpoint's `covers` or `head` do not match the chain, or it is dated before
 *   an entry it covers.
 * - UNKNOWN_KEY: a checkpoint's kid is not a key of the origin in the manifest.
 * - KEY_NOT_VALID: the checkpoint's key was revoked, expired or not yet valid at the checkpoint's `at`.
 * - BAD_CHECKPOINT_SIGNATURE: the checkpoint's signature does not verify.
 * - NO_GENESIS: the chain is empty (purged, or never created), or its first entry (seq 1) is not a
 *   genesis checkpoint. (A chain whose first stored entry has a higher seq is a SEQ_GAP at 1: truncated.)
 * - FOREIGN_SUBJECT: a message stored under another subject than the origin's audit subject.
 * - ANCHOR_MISMATCH: the chain does not hold the anchored checkpoint — another entry at its seq, or
 *   the chain ends before it.
 */
export type AuditBreakReason =
  | 'MALFORMED'
  | 'NO_GENESIS'
  | 'FOREIGN_SUBJECT'
  | 'ANCHOR_MISMATCH'
  | 'SEQ_GAP'
  | 'SEQ_OUT_OF_ORDER'
  | 'HASH_MISMATCH'
  | 'CHECKPOINT_MISMATCH'
  | 'UNKNOWN_KEY'
  | 'KEY_NOT_VALID'
  | 'BAD_CHECKPOINT_SIGNATURE';

export interface BrokenEntry {
  /** The chain position (1-based) named; see {@link AuditBreakReason} for which one each reason names. */
  readonly seq: number;
  /** Stream sequence of the named entry (for SEQ_GAP: of the first message after the gap). */
  readonly streamSeq: number;
  readonly reason: AuditBreakReason;
  readonly detail: string;
}

export interface ChainHead {
  readonly seq: number;
  readonly streamSeq: number;
  readonly hash: string;
}

export type AuditVerification =
  | {
      readonly ok: true;
      /** Chain length: disclosures plus checkpoints. */
      readonly entries: number;
      readonly disclosures: number;
      readonly checkpoints: number;
      /**
       * Entries after the last checkpoint: hash-linked to it, but not yet signed — anyone able to write
       * the stream could have appended them. A checkpoint seals them (the gateway writes one within its
       * checkpoint interval).
       */
      readonly unsealed: number;
      /** Chain position of the last (signed) checkpoint. */
      readonly lastCheckpoint: number;
      /** Whether an anchor was given (and the chain holds its checkpoint). */
      readonly anchored: boolean;
      readonly head: ChainHead | undefined;
    }
  | {
      readonly ok: false;
      readonly firstBroken: BrokenEntry;
      /** Entries before the named one, all intact. */
      readonly verified: number;
    };

const KEY_NOT_VALID_CODES: ReadonlySet<string> = new Set(['KEY_REVOKED', 'KEY_EXPIRED', 'KEY_NOT_YET_VALID']);

function toMessage(input: AuditMessage | AuditEntry, position: number): AuditMessage {
  if ('data' in input) return input;
  try {
    return { streamSeq: position, data: encodeAuditEntry(input) };
  } catch {
    return { streamSeq: position, data: '' };
  }
}

type Broken = Omit<BrokenEntry, 'seq' | 'streamSeq'>;

function checkpointKey(
  cp: CheckpointEntry,
  manifest: ManifestBody,
  origin: string,
): { key: KeyObject } | Broken {
  try {
    return { key: resolveSigningKey(manifest, origin, cp.kid, new Date(cp.at)) };
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    const reason = KEY_NOT_VALID_CODES.has(e.code) ? 'KEY_NOT_VALID' : 'UNKNOWN_KEY';
    return { reason, detail: `checkpoint key ${cp.kid}: ${e.code}` };
  }
}

export interface VerifyAuditOptions {
  /**
   * The latest checkpoint the writer stored, as it kept it outside the stream: the chain must hold
   * exactly that entry at its seq. This is what tells a chain cut off at its end (or purged and begun
   * anew) from a shorter one.
   */
  readonly anchor?: AuditAnchor;
}

/**
 * Checks an origin's audit chain, in stream order: it starts with a genesis checkpoint signed by the
 * origin; every entry well-formed, canonical and stored under the origin's subject; seq 1, 2, 3 …
 * without gaps, each `prev` the hash of the entry before, and every checkpoint covering exactly the
 * entries since the previous one, ending in `head`, signed by a key of `origin` that the manifest says
 * was valid at the checkpoint's `at`; with an anchor, the anchored checkpoint is in the chain. Stops at
 * the first break and names it. Pure: reads only `source`.
 *
 * Without an anchor, a chain cut off at its end is indistinguishable from a shorter chain; entries after
 * the last checkpoint are reported as `unsealed`.
 */
export async function verifyAuditChain(
  source: AuditSource<AuditMessage | AuditEntry>,
  manifest: ManifestBody,
  origin: string,
  options: VerifyAuditOptions = {},
): Promise<AuditVerification> {
  if (!PARTNER_CODE_RE.test(origin)) {
    throw new AuditError('INVALID_OPTIONS', `origin: "${origin}" is not a partner code`);
  }
  const { anchor } = options;
  if (anchor !== undefined && anchor.origin !== origin) {
    throw new AuditError('INVALID_ANCHOR', `the anchor is ${anchor.origin}'s chain, not ${origin}'s`);
  }
  const subject = auditSubject(origin);
  let last: ChainHead | undefined;
  let lastCheckpoint = 0;
  let checkpoints = 0;
  let latestAt = Number.NEGATIVE_INFINITY;
  let position = 0;
  const broken = (seq: number, streamSeq: number, b: Broken): AuditVerification => ({
    ok: false,
    firstBroken: { seq, streamSeq, ...b },
    verified: seq - 1,
  });

  for await (const input of source) {
    position += 1;
    const { streamSeq, data, subject: storedUnder } = toMessage(input, position);
    if (storedUnder !== undefined && storedUnder !== subject) {
      return broken(position, streamSeq, {
        reason: 'FOREIGN_SUBJECT',
        detail: `stored under ${storedUnder}, not ${subject}`,
      });
    }
    const decoded = tryDecodeAuditEntry(data);
    if (!decoded.ok) return broken(position, streamSeq, { reason: 'MALFORMED', detail: decoded.detail });
    const entry = decoded.entry;
    if (entry.seq > position) {
      const missing =
        entry.seq - position === 1 ? `entry ${position}` : `entries ${position}..${entry.seq - 1}`;
      const start = position === 1 ? ' (the chain was truncated: its genesis checkpoint is gone)' : '';
      return broken(position, streamSeq, {
        reason: 'SEQ_GAP',
        detail: `${missing} missing; next present entry is ${entry.seq}${start}`,
      });
    }
    if (entry.seq < position) {
      return broken(position, streamSeq, {
        reason: 'SEQ_OUT_OF_ORDER',
        detail: `the entry at position ${position} carries seq ${entry.seq}`,
      });
    }
    const expectedPrev = last?.hash ?? GENESIS_HASH;
    if (entry.prev !== expectedPrev) {
      return last === undefined
        ? broken(1, streamSeq, {
            reason: 'HASH_MISMATCH',
            detail: 'the first entry does not start at genesis',
          })
        : broken(last.seq, last.streamSeq, {
            reason: 'HASH_MISMATCH',
            detail: `entry ${last.seq} does not hash to the prev recorded by entry ${entry.seq}`,
          });
    }
    if (position === 1 && !isGenesis(entry)) {
      return broken(1, streamSeq, {
        reason: 'NO_GENESIS',
        detail: `no genesis checkpoint: the first entry is a ${entry.kind}`,
      });
    }
    const hash = hashBytes(typeof data === 'string' ? Buffer.from(data) : data);
    if (
      anchor !== undefined &&
      entry.seq === anchor.seq &&
      (hash !== anchor.hash || entry.kind !== 'checkpoint')
    ) {
      return broken(entry.seq, streamSeq, {
        reason: 'ANCHOR_MISMATCH',
        detail: `entry ${entry.seq} is not the anchored checkpoint`,
      });
    }
    if (entry.kind === 'checkpoint') {
      const b = checkCheckpoint(entry, lastCheckpoint, expectedPrev, latestAt, manifest, origin);
      if (b !== undefined) return broken(entry.seq, streamSeq, b);
      lastCheckpoint = entry.seq;
      checkpoints += 1;
      latestAt = Number.NEGATIVE_INFINITY;
    } else {
      latestAt = Math.max(latestAt, Date.parse(entry.at));
    }
    last = { seq: entry.seq, streamSeq, hash };
  }
  if (position === 0) {
    return broken(1, 0, { reason: 'NO_GENESIS', detail: 'no genesis checkpoint: the chain is empty' });
  }
  if (anchor !== undefined && position < anchor.seq) {
    return broken(position + 1, 0, {
      reason: 'ANCHOR_MISMATCH',
      detail: `the chain ends at seq ${position}, before the anchored checkpoint ${anchor.seq}: it was cut off`,
    });
  }
  return {
    ok: true,
    entries: position,
    disclosures: position - checkpoints,
    checkpoints,
    unsealed: position - lastCheckpoint,
    lastCheckpoint,
    anchored: anchor !== undefined,
    head: last,
  };
}

function checkCheckpoint(
  cp: CheckpointEntry,
  lastCheckpoint: number,
  prevHash: string,
  latestCoveredAt: number,
  manifest: ManifestBody,
  origin: string,
): Broken | undefined {
  // Only the genesis (seq 1) covers nothing; every later checkpoint seals at least one entry.
  const empty = cp.covers.from > cp.covers.to && cp.seq !== 1;
  if (cp.covers.from !== lastCheckpoint + 1 || cp.covers.to !== cp.seq - 1 || empty) {
    return {
      reason: 'CHECKPOINT_MISMATCH',
      detail: `covers ${cp.covers.from}..${cp.covers.to}, but the entries since the last checkpoint are ${lastCheckpoint + 1}..${cp.seq - 1}`,
    };
  }
  if (cp.head !== prevHash) {
    return { reason: 'CHECKPOINT_MISMATCH', detail: `head is not the hash of entry ${cp.covers.to}` };
  }
  if (Date.parse(cp.at) < latestCoveredAt) {
    return { reason: 'CHECKPOINT_MISMATCH', detail: 'dated before an entry it covers' };
  }
  const key = checkpointKey(cp, manifest, origin);
  if (!('key' in key)) return key;
  if (!checkpointSignatureValid(cp, key.key)) {
    return { reason: 'BAD_CHECKPOINT_SIGNATURE', detail: `signature by ${cp.kid} does not verify` };
  }
  return undefined;
}
