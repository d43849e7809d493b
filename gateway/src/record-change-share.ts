import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { AggregateGrant, PartnerPolicy, PolicyEvent, RecipientGrant } from '@wbx/agreements';
import {
  AUDIT_STREAM,
  auditSubject,
  decodeAuditEntry,
  type AuditSink,
  type DisclosureRecord,
} from '@wbx/audit';
import { holdToken, type HeldToken } from '@wbx/seal';
import type { Logger } from 'pino';

import { AuditedDisclosures, disclosureKey } from './audited-disclosures.js';
import { EVENTS_STREAM, SHARE_CONSUMER, shareConsumer, shareStream, shareSubject } from './nats-layout.js';
import { Periodic } from './periodic.js';
import {
  CORRECTED_HEADER,
  ORIGINAL_SEQ_HEADER,
  PREVIOUS_COUNT_HEADER,
  PREVIOUS_SEQ_HEADER,
  type RecordChanges,
} from './record-changes.js';
import { presentRecord, type StreamRefs } from './stream-refs.js';

/** What a recipient sees of a change notice: the original's id, the reason, and the change's times. */
export const NOTICE_PATHS: readonly string[] = ['occurredAt', 'originalEventId', 'reason', 'recordedAt'];

/** Read the audit chain from this long before the original was stored: the servers' clocks may differ. */
const CLOCK_MARGIN_MS = 5_000;

/** The aggregator, as a change needs it: counts a version in, and takes one out. */
export interface ChangeCounts {
  add(eventId: string, event: PolicyEvent, grants: readonly AggregateGrant[]): Promise<void>;
  remove?(eventId: string, event: PolicyEvent, grants: readonly AggregateGrant[]): Promise<void>;
}

export interface ChangeSharerOptions {
  readonly partner: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly changes: RecordChanges;
  readonly aggregator: ChangeCounts;
  readonly refs: StreamRefs;
  readonly log: Logger;
}

/** The recipients the audit chain says received event `eventId` as a record, with their agreements. */
export async function recipientsOf(
  js: JetStreamClient,
  jsm: JetStreamManager,
  origin: string,
  eventId: string,
  since: Date,
): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  // Read up to the chain's last entry as of now: nothing after it can list the original.
  const last = await jsm.streams
    .getMessage(AUDIT_STREAM, { last_by_subj: auditSubject(origin) })
    .catch(() => null);
  if (last === null || last.time.getTime() < since.getTime() - CLOCK_MARGIN_MS) return out;
  const consumer = await js.consumers.get(AUDIT_STREAM, {
    filter_subjects: [auditSubject(origin)],
    opt_start_time: new Date(since.getTime() - CLOCK_MARGIN_MS).toISOString(),
  });
  const messages = await consumer.consume({ max_messages: 4_096 });
  try {
    for await (const m of messages) {
      let entry;
      try {
        entry = decodeAuditEntry(m.data);
      } catch {
        entry = undefined; // not an entry: `wbx audit verify` reports it
      }
      if (entry?.kind === 'disclosure' && entry.mode === 'records') {
        if ((entry.eventIds ?? [entry.eventId]).includes(eventId)) {
          const ids = out.get(entry.recipient) ?? new Set<string>();
          ids.add(entry.agreementId);
          out.set(entry.recipient, ids);
        }
      }
      if (m.seq >= last.seq || m.info.pending === 0) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return out;
}

/**
 * Shares a correction or withdrawal (a message of WBX_EVENTS) with every recipient that received its
 * original as a record — as the audit chain lists them — and with no other. Each gets the change notice
 * (its original's id and reason; the corrected content withheld) and, for a correction, the corrected
 * event presented under the grant its agreements give it now (keyed subject references as for any
 * record; nothing when the corrected event is no longer covered, so the recipient deletes the old one),
 * in the header `Wbx-Corrected`. Both are audited before they are published; the notification waits in
 * `wbx_record_changes` until the recipient acknowledges it (NoticeAcks). The aggregates that counted the
 * replaced version are adjusted: it is taken out, and the corrected one counted under the change's id.
 */
export class ChangeSharer {
  constructor(private readonly options: ChangeSharerOptions) {}

  async share(
    m: JsMsg,
    own: HeldToken,
    policy: PartnerPolicy,
    now: Date,
    audit: (record: DisclosureRecord) => Promise<void>,
    streamReady: (recipient: string) => Promise<boolean>,
  ): Promise<void> {
    const { js, jsm, partner, changes, log } = this.options;
    const originalId = String(own.claims.originalEventId);
    const originalSeq = Number(m.headers?.get(ORIGINAL_SEQ_HEADER));
    const previousSeq = Number(m.headers?.get(PREVIOUS_SEQ_HEADER));
    const previousCount = m.headers?.get(PREVIOUS_COUNT_HEADER) ?? originalId;
    const correctedToken = m.headers?.get(CORRECTED_HEADER) ?? '';
    const corrected = correctedToken === '' ? undefined : holdToken(correctedToken, Number.MAX_SAFE_INTEGER);
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: originalSeq }).catch(() => null);
    if (stored === null) {
      log.warn({ eventId: own.eventId, originalId }, 'the original of a change is gone; nobody to notify');
      return;
    }
    // The original, and the version this replaces, must have been shared, audited and counted first:
    // sharing runs many events at once. Until then the change is delivered again.
    const { ack_floor: floor } = await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER);
    if (floor.stream_seq < Math.max(originalSeq, previousSeq || 0)) {
      throw new Error('the original of a change is still being shared; the change waits');
    }
    await this.recount(previousSeq, previousCount, corrected, own.eventId, policy, now);
    const recipients = await recipientsOf(js, jsm, partner, originalId, stored.time);
    for (const [recipient, agreementIds] of recipients) {
      if (!(await streamReady(recipient))) {
        log.warn({ recipient, changeId: own.eventId }, 'no active agreement with a recipient: not notified');
        continue;
      }
      const grant =
        corrected === undefined ? undefined : grantFor(policy, corrected, partner, recipient, now);
      const notice = own.present(NOTICE_PATHS);
      const [agreementId = [...agreementIds][0] ?? ''] = grant?.agreementIds ?? [];
      // Audited first: nothing leaves without its entry.
      await audit({
        recipient,
        agreementId,
        eventId: own.eventId,
        eventType: own.type,
        paths: [...NOTICE_PATHS],
        mode: 'records',
      });
      const h = headers();
      if (corrected !== undefined && grant !== undefined) {
        const paths = [...grant.paths].sort();
        for (const id of grant.agreementIds)
          await audit({
            recipient,
            agreementId: id,
            eventId: originalId,
            eventType: corrected.type,
            paths,
            mode: 'records',
          });
        h.set(CORRECTED_HEADER, presentRecord(corrected, grant, policy, this.options.refs, now));
      }
      const ack = await js.publish(shareSubject(recipient, partner, own.type), notice, {
        msgID: own.eventId,
        headers: h,
        expect: { streamName: shareStream(recipient) },
      });
      await changes.notePending({
        recipient,
        agreementId,
        changeId: own.eventId,
        changeType: own.type,
        originalEventId: originalId,
        shareSeq: ack.seq,
      });
      log.info(
        { recipient, changeId: own.eventId, type: own.type, originalId },
        'correction or withdrawal sent to a recipient of the original',
      );
    }
  }

  /** Takes the replaced version out of the aggregates, and counts the corrected one (under the change's id). */
  private async recount(
    previousSeq: number,
    previousCount: string,
    corrected: HeldToken | undefined,
    changeId: string,
    policy: PartnerPolicy,
    now: Date,
  ): Promise<void> {
    const { aggregator, changes, partner } = this.options;
    const remove = aggregator.remove?.bind(aggregator);
    const previousToken = await changes.tokenAt(previousSeq);
    if (previousToken !== undefined && remove !== undefined) {
      const previous = holdToken(previousToken, Number.MAX_SAFE_INTEGER);
      const event: PolicyEvent = { type: previous.type, origin: partner, claims: previous.claims };
      const aggregates = policy.grants(event, now).flatMap((g) => g.aggregates);
      if (aggregates.length > 0) await remove(previousCount, event, aggregates);
    }
    if (corrected !== undefined) {
      const event: PolicyEvent = { type: corrected.type, origin: partner, claims: corrected.claims };
      const aggregates = policy.grants(event, now).flatMap((g) => g.aggregates);
      if (aggregates.length > 0) await aggregator.add(changeId, event, aggregates);
    }
  }
}

/** What `recipient` may receive of `own` as a record now (its grant, with paths), or undefined. */
function grantFor(
  policy: PartnerPolicy,
  own: HeldToken,
  origin: string,
  recipient: string,
  now: Date,
): RecipientGrant | undefined {
  const grant = policy
    .grants({ type: own.type, origin, claims: own.claims }, now)
    .find((g) => g.recipient === recipient);
  return grant !== undefined && grant.paths.length > 0 ? grant : undefined;
}

export interface NoticeAcksOptions {
  /** This partner: the origin whose audit chain lists the acknowledgements. */
  readonly partner: string;
  readonly jsm: JetStreamManager;
  readonly changes: RecordChanges;
  readonly audit: AuditSink;
  readonly log: Logger;
  /** How often the recipients' acknowledgements are looked at; default 1 s. */
  readonly everyMs?: number;
  /** How long a replica's claim on auditing an acknowledgement holds before another takes over. */
  readonly leaseMs?: number;
  /** Tests only: fails the check at this point, as a crash there would. */
  readonly crashPoint?: 'after-claim' | 'after-append';
}

/**
 * The recipients' acknowledgements of corrections and withdrawals: a notification is acknowledged when
 * the recipient's consumer on its share stream has acknowledged it (its ack floor reached the
 * notification's sequence — the recipient acknowledges only after it applied the change). Each is then
 * audited once, as an `ack` entry naming the recipient and the change: the replica whose compare-and-set
 * claims the notice appends the entry, then takes the notice off the pending list. A claim older than
 * the lease (its replica died) is taken over; the new claimer appends only if the chain does not list
 * the entry yet — so a crash repeats the work, never loses or doubles the entry.
 */
export class NoticeAcks {
  private chain: AuditedDisclosures | undefined;
  private readonly periodic: Periodic;

  constructor(private readonly options: NoticeAcksOptions) {
    this.periodic = new Periodic(() => this.check(), {
      everyMs: options.everyMs ?? 1_000,
      immediately: false,
      onError: (e) => options.log.warn({ err: e }, 'checking acknowledgements failed'),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Audits every pending notification its recipient has acknowledged; returns how many. */
  async check(): Promise<number> {
    const { jsm, changes, audit, log } = this.options;
    if (audit.failure !== undefined) return 0;
    const floors = new Map<string, { floor: number; first: number }>();
    let acknowledged = 0;
    for (const { notice, key, revision } of await changes.pending()) {
      let seen = floors.get(notice.recipient);
      if (seen === undefined) {
        const { recipient } = notice;
        const info = await jsm.consumers
          .info(shareStream(recipient), shareConsumer(recipient))
          .catch(() => null);
        // After the floor: a notice the stream still holds now was not dropped when the floor passed it.
        const stream = await jsm.streams.info(shareStream(recipient)).catch(() => null);
        seen = { floor: info?.ack_floor.stream_seq ?? 0, first: stream?.state.first_seq ?? Infinity };
        floors.set(recipient, seen);
      }
      if (seen.floor < notice.shareSeq) continue;
      // The floor also passes what the stream dropped unacknowledged (a purge when the agreement ends,
      // its age limit): only a notice still held tells the recipient's acknowledgement from that.
      if (notice.shareSeq < seen.first) continue;
      const now = Date.now();
      const leaseMs = this.options.leaseMs ?? 60_000;
      if (notice.ackLeaseAt !== undefined && now - notice.ackLeaseAt < leaseMs) continue;
      const claimed = await changes.claim(key, revision, notice, now);
      if (claimed === undefined) continue;
      if (this.options.crashPoint === 'after-claim') throw new Error('crash after claim (test)');
      const entry = {
        recipient: notice.recipient,
        agreementId: notice.agreementId,
        eventId: notice.changeId,
        eventType: notice.changeType,
        paths: [],
        mode: 'ack',
      } as const;
      // A notice claimed before (its claimer died) may have been audited already.
      const taken = notice.ackClaimedAt !== undefined;
      this.chain ??= new AuditedDisclosures(jsm, this.options.partner);
      const listed =
        taken && (await this.chain.has(entry.eventId, disclosureKey(entry), notice.ackClaimedAt));
      if (!listed) await audit.append(entry);
      if (this.options.crashPoint === 'after-append') throw new Error('crash after append (test)');
      if (!(await changes.settle(key, claimed.revision))) continue;
      acknowledged += 1;
      log.info(
        { recipient: notice.recipient, changeId: notice.changeId, originalId: notice.originalEventId },
        'the recipient acknowledged a correction or withdrawal',
      );
    }
    return acknowledged;
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }
}
