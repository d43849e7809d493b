import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
} from '@nats-io/jetstream';

import { AUDIT_STREAM, auditSubject } from './entry.js';
import { AuditError } from './errors.js';
import type { AuditMessage } from './verify.js';

/**
 * The messages of `origin`'s audit chain in stream order, from the first to the last one present when
 * the read starts (an ordered consumer; works on nats-server 2.9). Throws STREAM_NOT_FOUND.
 */
export async function* readAudit(
  jsm: JetStreamManager,
  origin: string,
): AsyncGenerator<AuditMessage & { readonly data: Uint8Array; readonly subject: string }> {
  const subject = auditSubject(origin);
  let last;
  try {
    last = await jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject });
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      throw new AuditError('STREAM_NOT_FOUND', `there is no ${AUDIT_STREAM} stream`, { cause: e });
    }
    throw e;
  }
  if (last === null) return;
  const consumer = await jsm.jetstream().consumers.get(AUDIT_STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of messages) {
      yield { streamSeq: m.seq, data: m.data, subject: m.subject };
      if (m.seq >= last.seq || m.info.pending === 0) break;
    }
  } finally {
    await messages.close();
  }
}
