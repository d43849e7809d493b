import { headers, type MsgHdrs } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { isRecordChangeType, SOURCE_EVENT_TYPES, type ValidEvent, type Violation } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';

import { EVENTS_STREAM, RECORD_CHANGES_BUCKET } from './nats-layout.js';
import { openBucket } from './streams.js';

/**
 * Corrections and withdrawals at the origin (docs/architecture.md, "Corrections and withdrawals").
 *
 * A `record.correction` is stored in WBX_EVENTS like any event, with the corrected event sealed on its
 * own (the original's event id and type, a new `iat`) in the header `Wbx-Corrected`: that token is what
 * recipients, Query and Match get instead of the original, presented under their agreements like any
 * record. Each change message also names, in headers, where the original and the version it replaces are
 * stored, and the id the aggregates counted that version under. `wbx_record_changes` keeps, per changed
 * event (`e.<eventId>`), its latest change; and, per notification not yet acknowledged by its recipient
 * (`n.<recipient>.<changeId>`), where it sits in the recipient's share stream.
 */

/** The corrected event, sealed: what replaces the original. */
export const CORRECTED_HEADER = 'Wbx-Corrected';
/** The WBX_EVENTS sequence of the original event. */
export const ORIGINAL_SEQ_HEADER = 'Wbx-Original-Seq';
/** The WBX_EVENTS sequence of the version this change replaces (the original, or a correction). */
export const PREVIOUS_SEQ_HEADER = 'Wbx-Previous-Seq';
/** The id the aggregates counted the replaced version under (the original's, or a correction's). */
export const PREVIOUS_COUNT_HEADER = 'Wbx-Previous-Count-Id';

/** The latest change of one event (`e.<eventId>` in `wbx_record_changes`). */
export interface RecordState {
  readonly state: 'corrected' | 'withdrawn';
  /** The change event's id and type. */
  readonly changeId: string;
  readonly changeType: string;
  readonly reason: string;
  /** Where the change is stored in WBX_EVENTS (a correction: the current version, in its header). */
  readonly changeSeq: number;
  readonly originalSeq: number;
  /** The id the aggregates count the current version under: a correction's id (withdrawn: none). */
  readonly countId: string;
}

/** A notification sent and not yet acknowledged (`n.<recipient>.<changeId>`). */
export interface PendingNotice {
  readonly recipient: string;
  readonly agreementId: string;
  readonly changeId: string;
  readonly changeType: string;
  readonly originalEventId: string;
  /** Its sequence in the recipient's share stream. */
  readonly shareSeq: number;
  /** When a replica first took up auditing its acknowledgement (ms); absent until then. */
  readonly ackClaimedAt?: number;
  /** When the replica now auditing it took it up (ms); another takes over after a lease. */
  readonly ackLeaseAt?: number;
}

/** What a change needs from the store before it is published: its headers, or why it is refused. */
export type PreparedChange =
  | { readonly ok: true; readonly headers: MsgHdrs; readonly originalSeq: number; readonly previous: string }
  | { readonly ok: false; readonly violations: readonly Violation[] };

/** A message of WBX_EVENTS as read: its body, and its headers (`headers` consumed, `header` fetched). */
interface StoredEvent {
  readonly headers?: MsgHdrs | undefined;
  readonly header?: MsgHdrs | undefined;
  string(): string;
}

/** The sealed version a WBX_EVENTS message holds: a correction's corrected event, else the message itself. */
export function versionToken(m: StoredEvent): string {
  return (m.headers ?? m.header)?.get(CORRECTED_HEADER) || m.string();
}

/** The original event a change names (`originalEventId`), or undefined for any other event. */
export function originalOf(event: ValidEvent): string | undefined {
  return event.recordCorrection?.originalEventId ?? event.recordWithdrawal?.originalEventId;
}

function reasonOf(event: ValidEvent): string {
  return event.recordCorrection?.reason ?? event.recordWithdrawal?.reason ?? '';
}

/**
 * What Query and Match answer for a message of WBX_EVENTS, given the changes (`snapshot`): its own token;
 * for a corrected event, the corrected version; for a withdrawn one, nothing.
 */
export async function currentVersion(
  changes: RecordChanges | undefined,
  changed: ReadonlyMap<string, RecordState>,
  m: StoredEvent,
): Promise<string | undefined> {
  const id = changed.size === 0 ? undefined : (m.headers ?? m.header)?.get('Nats-Msg-Id');
  const state = id === undefined ? undefined : changed.get(id);
  if (state === undefined || changes === undefined) return m.string();
  if (state.state === 'withdrawn') return undefined;
  return changes.tokenAt(state.changeSeq);
}

const stateKey = (eventId: string): string => `e.${eventId}`;
const noticeKey = (recipient: string, changeId: string): string => `n.${recipient}.${changeId}`;

export interface RecordChangesOptions {
  readonly partner: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly replicas: number;
}

/** The origin's record of changes (`wbx_record_changes`), opened on first use. */
export class RecordChanges {
  private bucket: Promise<KV> | undefined;

  constructor(private readonly options: RecordChangesOptions) {}

  /** Opens the bucket now (at the gateway's start), so that no Query or Match is the first to. */
  static async open(options: RecordChangesOptions): Promise<RecordChanges> {
    const changes = new RecordChanges(options);
    await changes.kv();
    return changes;
  }

  kv(): Promise<KV> {
    const { js, jsm, replicas } = this.options;
    this.bucket ??= openBucket(js, jsm, RECORD_CHANGES_BUCKET, { replicas, history: 1 });
    this.bucket.catch(() => {
      this.bucket = undefined;
    });
    return this.bucket;
  }

  /** The latest change of `eventId`, if any. */
  async state(eventId: string): Promise<RecordState | undefined> {
    const e = await (await this.kv()).get(stateKey(eventId));
    return e === null || e.operation !== 'PUT' ? undefined : e.json<RecordState>();
  }

  /** Every changed event's latest change, by event id (changes are rare: read whole, per Query or Match). */
  async snapshot(): Promise<ReadonlyMap<string, RecordState>> {
    const kv = await this.kv();
    const out = new Map<string, RecordState>();
    for await (const key of await kv.keys('e.>')) {
      const e = await kv.get(key);
      if (e !== null && e.operation === 'PUT') out.set(key.slice(2), e.json<RecordState>());
    }
    return out;
  }

  /** The sealed version stored at `seq` of WBX_EVENTS (see versionToken), or undefined if it is gone. */
  async tokenAt(seq: number): Promise<string | undefined> {
    try {
      const m = await this.options.jsm.streams.getMessage(EVENTS_STREAM, { seq });
      return m === null ? undefined : versionToken(m);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return undefined;
      throw e;
    }
  }

  /**
   * Checks a change against what it changes — the original must be in WBX_EVENTS, issued by this
   * origin, a source event, not withdrawn, and (a correction) keep its type — and returns the headers it
   * is stored with. A change submitted again (a retry) passes as it did the first time.
   */
  async prepare(event: ValidEvent): Promise<PreparedChange> {
    const originalId = originalOf(event);
    if (originalId === undefined) return { ok: false, violations: [] };
    const path = `${event.recordCorrection === undefined ? 'recordWithdrawal' : 'recordCorrection'}.originalEventId`;
    const refuse = (code: Violation['code'], message: string): PreparedChange => ({
      ok: false,
      violations: [{ path, code, message }],
    });
    const state = await this.state(originalId);
    if (state?.state === 'withdrawn' && state.changeId !== event.eventId)
      return refuse('ORIGINAL_WITHDRAWN', 'the event was withdrawn');
    const originalSeq = state?.originalSeq ?? (await this.find(originalId));
    if (originalSeq === undefined) return refuse('ORIGINAL_NOT_FOUND', 'no such event of this origin');
    const stored = await this.options.jsm.streams.getMessage(EVENTS_STREAM, { seq: originalSeq });
    if (stored === null) return refuse('ORIGINAL_NOT_FOUND', 'no such event of this origin');
    const original = readOwnSealedEvent(stored.string());
    if (original.issuer !== this.options.partner)
      return refuse('ORIGINAL_NOT_OWN', 'the event was issued by another origin');
    if (!(SOURCE_EVENT_TYPES as readonly string[]).includes(original.type))
      return refuse('ORIGINAL_NOT_CHANGEABLE', `a ${original.type} event cannot be changed`);
    const corrected = event.recordCorrection?.corrected;
    if (corrected !== undefined && corrected.type !== original.type) {
      return {
        ok: false,
        violations: [
          {
            path: 'recordCorrection.corrected.type',
            code: 'ORIGINAL_TYPE_MISMATCH',
            message: `the original is a ${original.type} event`,
          },
        ],
      };
    }
    // A retry of the latest change replaces what that change replaced.
    const previous =
      state === undefined || state.changeId === event.eventId
        ? { seq: originalSeq, countId: originalId }
        : { seq: state.changeSeq, countId: state.countId };
    const h = headers();
    h.set(ORIGINAL_SEQ_HEADER, String(originalSeq));
    h.set(PREVIOUS_SEQ_HEADER, String(previous.seq));
    h.set(PREVIOUS_COUNT_HEADER, previous.countId);
    return { ok: true, headers: h, originalSeq, previous: previous.countId };
  }

  /** Records `event` (stored at `seq` of WBX_EVENTS) as the latest change of its original. */
  async record(event: ValidEvent, seq: number, originalSeq: number): Promise<void> {
    const originalId = originalOf(event);
    if (originalId === undefined || !isRecordChangeType(event.type)) return;
    const kv = await this.kv();
    const value: RecordState = {
      state: event.type === 'record.withdrawal' ? 'withdrawn' : 'corrected',
      changeId: event.eventId,
      changeType: event.type,
      reason: reasonOf(event),
      changeSeq: seq,
      originalSeq,
      countId: event.type === 'record.withdrawal' ? '' : event.eventId,
    };
    for (;;) {
      const e = await kv.get(stateKey(originalId));
      const current = e !== null && e.operation === 'PUT' ? e.json<RecordState>() : undefined;
      // A later change (by its stored sequence) wins; a withdrawal is final.
      if (current !== undefined && (current.changeSeq >= seq || current.state === 'withdrawn')) return;
      try {
        if (e === null) await kv.create(stateKey(originalId), JSON.stringify(value));
        else await kv.update(stateKey(originalId), JSON.stringify(value), e.revision);
        return;
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        const stale =
          code === JetStreamApiCodes.StreamWrongLastSequence ||
          code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
        if (!stale) throw err; // else another change came meanwhile: read again
      }
    }
  }

  /**
   * The WBX_EVENTS sequence of this origin's event `eventId`, found by the `Nats-Msg-Id` each event is
   * stored with (headers only, newest last). Changes are rare; this reads every event's headers once.
   */
  private async find(eventId: string): Promise<number | undefined> {
    const { js, jsm } = this.options;
    const { state } = await jsm.streams.info(EVENTS_STREAM);
    if (state.messages === 0) return undefined;
    const consumer = await js.consumers.get(EVENTS_STREAM, {
      headers_only: true,
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume({ max_messages: 4_096 });
    try {
      for await (const m of messages) {
        if (m.headers?.get('Nats-Msg-Id') === eventId) return m.seq;
        if (m.seq >= state.last_seq || m.info.pending === 0) return undefined;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
    return undefined;
  }

  /** Notes a notification sent to `notice.recipient`, until its acknowledgement is audited. */
  async notePending(notice: PendingNotice): Promise<void> {
    await (await this.kv()).put(noticeKey(notice.recipient, notice.changeId), JSON.stringify(notice));
  }

  /** The notifications not yet acknowledged, with their revisions. */
  async pending(): Promise<{ notice: PendingNotice; key: string; revision: number }[]> {
    const kv = await this.kv();
    const out: { notice: PendingNotice; key: string; revision: number }[] = [];
    for await (const key of await kv.keys('n.>')) {
      const e = await kv.get(key);
      if (e !== null && e.operation === 'PUT')
        out.push({ notice: e.json<PendingNotice>(), key, revision: e.revision });
    }
    return out;
  }

  /**
   * Takes up auditing a notification's acknowledgement, by compare-and-set on its revision: the notice
   * as claimed and its new revision, or undefined when another replica changed it first.
   */
  async claim(
    key: string,
    revision: number,
    notice: PendingNotice,
    now: number,
  ): Promise<{ notice: PendingNotice; revision: number } | undefined> {
    const claimed = { ...notice, ackClaimedAt: notice.ackClaimedAt ?? now, ackLeaseAt: now };
    try {
      const next = await (await this.kv()).update(key, JSON.stringify(claimed), revision);
      return { notice: claimed, revision: next };
    } catch {
      return undefined;
    }
  }

  /** Takes a notification off the pending list; false when another replica did first. */
  async settle(key: string, revision: number): Promise<boolean> {
    try {
      await (await this.kv()).delete(key, { previousSeq: revision });
      return true;
    } catch {
      return false;
    }
  }
}
