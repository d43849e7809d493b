import { setTimeout as sleep } from 'node:timers/promises';

import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type JetStreamManager,
} from '@nats-io/jetstream';

import { AUDIT_STREAM, auditSubject } from './entry.js';
import { AuditError } from './errors.js';
import type { AuditMessage } from './verify.js';

export interface ReadAuditOptions {
  /**
   * How long the read may go without a new entry before it fails with READ_INCOMPLETE (a stream without a
   * leader, a cluster without quorum); default 30 000 ms.
   */
  readonly stallTimeoutMs?: number;
}

/** Entries asked for in one pull. */
const BATCH = 1_000;
/** How long one pull waits for its entries, in ms. */
const PULL_EXPIRES_MS = 5_000;
/** How long past its expiry a pull that delivers nothing more is given before it is stopped, in ms. */
const QUIET_MS = 5_000;

/**
 * The messages of `origin`'s audit chain in stream order, from the first to the last one present when
 * the read starts (an ordered consumer; works on nats-server 2.9). Throws STREAM_NOT_FOUND, and
 * READ_INCOMPLETE when the chain cannot be read up to that last entry within `stallTimeoutMs` of no
 * progress: a read is complete or fails, never silently short.
 *
 * The end is the subject's last sequence as known at the start, never the server's `pending` count: on a
 * clustered stream that count may read 0 before the end (an ordered consumer recreated after a leader
 * change, or a pull that comes back empty), which once cut a read of 5,473 entries at 1,755.
 */
export async function* readAudit(
  jsm: JetStreamManager,
  origin: string,
  options: ReadAuditOptions = {},
): AsyncGenerator<AuditMessage & { readonly data: Uint8Array; readonly subject: string }> {
  const subject = auditSubject(origin);
  const stallTimeoutMs = options.stallTimeoutMs ?? 30_000;
  // The end: the chain's last entry now (retried while the stream has no leader, within the timeout).
  let last;
  for (const started = Date.now(); ;) {
    try {
      last = await jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject });
      break;
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
        throw new AuditError('STREAM_NOT_FOUND', `there is no ${AUDIT_STREAM} stream`, { cause: e });
      }
      if (Date.now() - started > stallTimeoutMs) throw e;
      await sleep(250);
    }
  }
  if (last === null) return;
  const end = last.seq;
  /** The stream sequence of the last message yielded. */
  let done = 0;
  let progressAt = Date.now();
  let lastError: unknown;
  while (done < end) {
    let got = 0;
    let failed = false;
    // Each pull from its own ordered consumer, starting right after the last entry yielded: what a pull
    // cut short did not deliver is asked for again, never skipped.
    let consumer: Consumer | undefined;
    try {
      consumer = await jsm.jetstream().consumers.get(AUDIT_STREAM, {
        filter_subjects: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: done + 1,
      });
      const batch = await consumer.fetch({ max_messages: BATCH, expires: PULL_EXPIRES_MS });
      // A pull that goes quiet past its expiry is stopped (the time the caller holds an entry not counted).
      const quiet = (): NodeJS.Timeout => setTimeout(() => batch.stop(), PULL_EXPIRES_MS + QUIET_MS);
      let timer = quiet();
      try {
        for await (const m of batch) {
          clearTimeout(timer);
          if (m.seq > done) {
            yield { streamSeq: m.seq, data: m.data, subject: m.subject };
            done = m.seq;
            got++;
            if (done >= end) break;
          }
          timer = quiet();
        }
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      lastError = e;
      failed = true;
    } finally {
      void consumer?.delete().catch(() => undefined);
    }
    if (got > 0) {
      progressAt = Date.now();
    } else if (done < end) {
      if (Date.now() - progressAt > stallTimeoutMs) {
        throw new AuditError(
          'READ_INCOMPLETE',
          `${AUDIT_STREAM} ${subject}: read up to sequence ${done} of ${end}, then nothing for ` +
            `${stallTimeoutMs} ms`,
          { cause: lastError },
        );
      }
      if (failed) await sleep(250);
    }
  }
}
