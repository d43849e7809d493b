import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { inForce, type PartnerPolicy } from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import { readOwnSealedEvent, tryVerifyPresentation, type EventEnvelope } from '@wbx/seal';
import type { Logger } from 'pino';

import { deleteInboxRecord } from './inbox-retention.js';
import type { InboxSeen } from './inbox-seen.js';
import { INBOX_STREAM, inboxMsgId, inboxSubject } from './nats-layout.js';
import { NOTICE_PATHS } from './record-change-share.js';
import { CORRECTED_HEADER } from './record-changes.js';

/** Why a change notice is not applied: it goes to the quarantine with this code. */
export interface ChangeRefusal {
  readonly code: string;
  readonly detail: string;
}

export interface ChangeApplyDeps {
  /** This partner: the recipient. */
  readonly partner: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly seen: InboxSeen;
  readonly policy: PartnerPolicy;
  readonly manifest: ManifestBody;
  readonly now: Date;
  readonly log: Logger;
}

/**
 * Applies a correction or withdrawal of `origin` (its notice verified; `token` as received) to WBX_INBOX:
 * the notice must come from an origin this partner holds an agreement with, in force at its `iat`, and
 * disclose nothing but the original's id and the reason. A correction's corrected presentation (header
 * `Wbx-Corrected`) is verified and checked against the agreements like any record, stored in WBX_INBOX,
 * and the stored version it replaces deleted (`deleteInboxRecord`); a withdrawal — or a correction
 * without a presentation, whose corrected event this partner may no longer see — deletes it. The notice
 * itself is kept in WBX_INBOX (`wbx.in.<origin>.record.correction|withdrawal`), a verifiable record of
 * the change. A withdrawn event stays withdrawn: its correction is refused (ORIGINAL_WITHDRAWN) and the
 * original, sent again (or late), not stored. Safe to run again for the same message: each step is
 * idempotent, in this order (store the new version, delete the old, remember the new, store the notice),
 * and the message is acknowledged last.
 * Returns a refusal, or undefined when applied and acknowledged.
 */
export async function applyRecordChange(
  deps: ChangeApplyDeps,
  origin: string,
  m: JsMsg,
  token: string,
  notice: EventEnvelope,
): Promise<ChangeRefusal | undefined> {
  const { partner, js, jsm, seen, policy, log } = deps;
  const iat = notice.issuedAt.getTime();
  if (notice.issuer !== origin) {
    return { code: 'UNKNOWN_ISSUER', detail: `${notice.issuer}'s change in ${origin}'s share stream` };
  }
  const held = policy.agreements.filter(
    (a) => a.body.provider === origin && a.body.recipient === partner && inForce(a, iat),
  );
  if (held.length === 0) return { code: 'NO_AGREEMENT_AT_IAT', detail: `no agreement with ${origin} at iat` };
  const { claims, disclosed } = readOwnSealedEvent(token);
  const beyond = disclosed.filter((p) => !NOTICE_PATHS.includes(p));
  if (beyond.length > 0)
    return { code: 'FIELDS_BEYOND_AGREEMENT', detail: `a change notice discloses ${beyond.join(', ')}` };
  const originalId = claims.originalEventId;
  if (typeof originalId !== 'string' || originalId === '')
    return { code: 'MALFORMED_TOKEN', detail: 'a change notice without its original' };
  if (await seen.has(origin, notice.eventId)) {
    m.ack(); // applied before: a redelivery or replay
    return undefined;
  }
  // A withdrawal is final: no correction brings the event back (a withdrawal applied again goes on).
  const withdrawn = await seen.withdrawn(origin, originalId);
  if (withdrawn && notice.type === 'record.correction')
    return { code: 'ORIGINAL_WITHDRAWN', detail: `${originalId} was withdrawn` };
  const oldSeq = await seen.seq(origin, originalId);
  let replaced: number | undefined;
  const correctedToken = m.headers?.get(CORRECTED_HEADER) ?? '';
  if (notice.type === 'record.correction' && correctedToken !== '') {
    const corrected = tryVerifyPresentation(correctedToken, { manifest: deps.manifest, now: deps.now });
    if (!corrected.ok) return { code: corrected.code, detail: `the corrected event: ${corrected.detail}` };
    if (corrected.issuer !== origin || corrected.eventId !== originalId)
      return { code: 'INCONSISTENT_CORRECTION', detail: 'the corrected event is not the original' };
    const verdict = policy.check({
      origin,
      type: corrected.type,
      iat: corrected.issuedAt.getTime() / 1000,
      claims: corrected.claims,
      disclosed: corrected.disclosed,
      ...(corrected.refAgreement === undefined ? {} : { refAgreement: corrected.refAgreement }),
    });
    if (!verdict.ok) return { code: verdict.code, detail: `the corrected event: ${verdict.detail}` };
    // A correction keeps the event's type (the origin's gateway refuses another; a hostile one may not).
    const heldAs = oldSeq === undefined ? undefined : await heldSubject(jsm, oldSeq);
    if (heldAs !== undefined && heldAs !== inboxSubject(origin, corrected.type))
      return { code: 'ORIGINAL_TYPE_MISMATCH', detail: `the corrected event is a ${corrected.type}` };
    if (oldSeq !== undefined) {
      // Only a version this partner holds is replaced: one deleted already (retention) stays deleted.
      const ack = await js.publish(inboxSubject(origin, corrected.type), correctedToken, {
        msgID: `${inboxMsgId(origin, originalId)}.${notice.eventId}`,
        expect: { streamName: INBOX_STREAM },
      });
      // The old version gone and the new one not stored before (a run of this message that deleted the
      // old one but did not remember the new): retention deleted it, and no correction brings it back.
      if (heldAs === undefined && !ack.duplicate) await deleteInboxRecord(jsm, ack.seq);
      else replaced = ack.seq;
    }
  }
  if (oldSeq !== undefined && oldSeq !== replaced) await deleteInboxRecord(jsm, oldSeq);
  if (replaced !== undefined) await seen.remember(origin, originalId, replaced);
  // Remembered even when never stored here: the original, arriving after, is not stored then.
  if (notice.type === 'record.withdrawal' && !withdrawn) await seen.withdraw(origin, originalId);
  const stored = await js.publish(inboxSubject(origin, notice.type), token, {
    msgID: inboxMsgId(origin, notice.eventId),
    expect: { streamName: INBOX_STREAM },
  });
  await seen.remember(origin, notice.eventId, stored.seq);
  log.info(
    { origin, changeId: notice.eventId, type: notice.type, originalId, deleted: oldSeq, stored: replaced },
    notice.type === 'record.correction' ? 'correction applied' : 'withdrawal applied',
  );
  m.ack();
  return undefined;
}

/** The subject of WBX_INBOX's message `seq`, or undefined when the inbox no longer holds it. */
async function heldSubject(jsm: JetStreamManager, seq: number): Promise<string | undefined> {
  try {
    return (await jsm.streams.getMessage(INBOX_STREAM, { seq }))?.subject;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return undefined;
    throw e;
  }
}
