import type { JetStreamManager } from '@nats-io/jetstream';

import { AUDIT_STREAM, GENESIS_HASH, hashBytes, tryDecodeAuditEntry } from '../entry.js';
import { AuditError } from '../errors.js';

/** Where the chain ends, as a writer needs it to continue. */
export interface Head {
  /** Chain position of the last entry (0: empty chain). */
  readonly seq: number;
  readonly hash: string;
  /** Stream sequence of the last message on the subject (0: none): the publish expectation. */
  readonly streamSeq: number;
  /** Chain position of the last checkpoint (0: none). */
  readonly lastCheckpoint: number;
  /** Latest `at` (epoch ms) of the entries since the last checkpoint; a checkpoint is never dated before. */
  readonly latestAt: number;
}

export const EMPTY_HEAD: Head = {
  seq: 0,
  hash: GENESIS_HASH,
  streamSeq: 0,
  lastCheckpoint: 0,
  latestAt: Number.NEGATIVE_INFINITY,
};

/**
 * Reads the head from the last message on `subject`. If that is not a checkpoint, walks back (by stream
 * sequence, skipping other subjects and deleted messages) to the last checkpoint — or, given the head
 * this writer `known` before, only to it, so a writer that lost a race reads just the entries it missed.
 * Throws CORRUPT_HEAD if the last message is not an audit entry.
 */
export async function loadHead(jsm: JetStreamManager, subject: string, known?: Head): Promise<Head> {
  const last = await jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject });
  if (last === null) return EMPTY_HEAD;
  const decoded = tryDecodeAuditEntry(last.data);
  if (!decoded.ok) {
    throw new AuditError(
      'CORRUPT_HEAD',
      `the last audit entry (stream seq ${last.seq}) is not readable: ${decoded.detail}; run wbx audit verify`,
    );
  }
  const head = decoded.entry;
  const base = { seq: head.seq, hash: hashBytes(last.data), streamSeq: last.seq };
  if (head.kind === 'checkpoint') return { ...base, lastCheckpoint: head.seq, latestAt: Date.parse(head.at) };
  let latestAt = Date.parse(head.at);
  const stop = known !== undefined && known.seq < head.seq && known.streamSeq < last.seq ? known : undefined;
  let expected = head.seq - 1;
  for (let s = last.seq - 1; s >= 1 && expected >= 1; s -= 1) {
    if (stop !== undefined && s <= stop.streamSeq) {
      if (expected === stop.seq)
        return { ...base, lastCheckpoint: stop.lastCheckpoint, latestAt: Math.max(latestAt, stop.latestAt) };
      break;
    }
    const m = await jsm.streams.getMessage(AUDIT_STREAM, { seq: s });
    if (m === null || m.subject !== subject) continue;
    const d = tryDecodeAuditEntry(m.data);
    if (!d.ok) break;
    if (d.entry.kind === 'checkpoint') return { ...base, lastCheckpoint: d.entry.seq, latestAt };
    latestAt = Math.max(latestAt, Date.parse(d.entry.at));
    expected = d.entry.seq - 1;
  }
  // Reached the start of the chain (consistent with `known` only if that was the empty chain).
  if (stop === undefined || (expected === 0 && stop.seq === 0))
    return { ...base, lastCheckpoint: 0, latestAt };
  return loadHead(jsm, subject);
}
