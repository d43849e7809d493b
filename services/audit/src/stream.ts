import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';

import { AUDIT_STREAM, auditSubject } from './entry.js';

export interface AuditStreamOptions {
  /** Stream replicas (3 on a NATS cluster); default 1. */
  readonly replicas?: number;
}

/**
 * WBX_AUDIT as the audit log needs it: file storage and no limits, so nothing is ever discarded; if a
 * limit is set later, `discard: new` makes appends fail instead of silently dropping old records.
 */
export function auditStreamConfig(
  subjects: readonly string[],
  options: AuditStreamOptions = {},
): Partial<StreamConfig> & { name: string } {
  return {
    name: AUDIT_STREAM,
    subjects: [...subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.New,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    num_replicas: options.replicas ?? 1,
  };
}

/**
 * Creates WBX_AUDIT with `wbx.audit.<origin>`, or brings an existing one to {@link auditStreamConfig}
 * (keeping the subjects of other origins, the replicas unless given, and any other setting); safe to run
 * at every start.
 */
export async function ensureAuditStream(
  jsm: JetStreamManager,
  origin: string,
  options: AuditStreamOptions = {},
): Promise<void> {
  const subject = auditSubject(origin);
  try {
    const info = await jsm.streams.info(AUDIT_STREAM);
    const subjects = [...new Set([...info.config.subjects, subject])];
    const wanted = auditStreamConfig(subjects, options);
    await jsm.streams.update(AUDIT_STREAM, {
      ...info.config,
      ...wanted,
      num_replicas: options.replicas ?? info.config.num_replicas,
    });
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.StreamNotFound) throw e;
    await jsm.streams.add(auditStreamConfig([subject], options));
  }
}
