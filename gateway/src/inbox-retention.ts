import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { checkReceived, inForce, type ActiveAgreement, type AgreementBody } from '@wbx/agreements';
import { isRecordChangeType } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';
import type { Logger } from 'pino';

import type { AgreementsSnapshot, AgreementsSource } from './agreements-watcher.js';
import type { GatewayMetrics } from './metrics.js';
import { INBOX_STREAM, INBOX_SUBJECT_PREFIX } from './nats-layout.js';

const DAY_MS = 86_400_000;

/**
 * Why a record leaves WBX_INBOX. Add new codes, never rename (they are logged).
 * - `RETENTION_PASSED`: every agreement it is held under has had its term's `retentionDays` since receipt;
 * - `AGREEMENT_ENDED`: the agreements it was held under ended (revoked or expired) and say `deleteOnEnd`;
 * - `NO_AGREEMENT`: no agreement known now covers it (its agreement file was removed, or never held);
 *   deleted only with `inbox.deleteUncovered`, otherwise kept and counted as uncovered.
 * (A later withdrawal by the origin deletes through the same path with a code of its own.)
 */
export type InboxDeletionReason = 'RETENTION_PASSED' | 'AGREEMENT_ENDED' | 'NO_AGREEMENT';

/** What the sweep decided about one record: keep it (until when), or delete it (why, under which). */
export type RetentionVerdict =
  | { readonly keep: true; readonly until: Date; readonly agreementIds: readonly string[] }
  | { readonly keep: false; readonly reason: InboxDeletionReason; readonly agreementIds: readonly string[] };

/** What one sweep did. */
export interface SweepResult {
  /** Set when nothing was deleted because the agreements cannot be read (fail closed). */
  readonly skipped?: 'AGREEMENTS_UNAVAILABLE';
  /** Records read. */
  readonly scanned: number;
  /** Records this sweep deleted (not those another replica deleted first). */
  readonly deleted: number;
  /** Records that could not be read as a presentation: kept, and logged. */
  readonly unreadable: number;
  /** Records no known agreement covers, kept because `deleteUncovered` is off (a warning names them). */
  readonly uncovered: number;
}

export interface InboxRetentionOptions {
  /** This partner: the recipient. */
  readonly partner: string;
  readonly jsm: JetStreamManager;
  /** With `subscribe`, every new snapshot (a revocation, a removed file) also starts a sweep. */
  readonly agreements: Pick<AgreementsSource, 'current'> & Partial<Pick<AgreementsSource, 'subscribe'>>;
  readonly log: Logger;
  readonly metrics?: GatewayMetrics;
  /** The clock the sweep decides by (tests move it ahead). */
  readonly now?: () => Date;
  /** How often the sweep runs (ms); the first runs at start. */
  readonly everyMs: number;
  /** Delete records no known agreement covers (default false: keep them, count them, warn). */
  readonly deleteUncovered?: boolean;
}

/** An agreement as the sweep weighs it: in force, or ended (revoked or expired) but both parties signed. */
interface Known extends ActiveAgreement {
  readonly ended: boolean;
}

/** A reason of an inactive agreement that means it ended, not that it never was valid. */
const endedReason = (r: string): boolean => r === 'EXPIRED' || r === 'REVOKED' || r.startsWith('REVOKED:');

/** The agreements a record may be held under: the active ones, and those that ended (revoked, expired). */
function knownAgreements(snapshot: AgreementsSnapshot, now: Date): Map<string, Known> {
  const known = new Map<string, Known>();
  for (const a of snapshot.agreements) {
    known.set(a.body.id, { ...a, ended: !inForce(a, now.getTime()) });
  }
  for (const a of snapshot.inactive) {
    if (known.has(a.body.id) || a.reasons.length === 0 || !a.reasons.every(endedReason)) continue;
    known.set(a.body.id, { body: a.body, ended: true });
  }
  return known;
}

/** The longest `retentionDays` of the agreement's terms that cover `type` (aggregates: their source). */
function retentionDays(body: AgreementBody, type: string, sourceType: unknown): number {
  const aggregate = type === 'stats.aggregate';
  const source = aggregate ? sourceType : type;
  const days = body.terms
    .filter((t) => t.mode === (aggregate ? 'aggregate' : 'records') && t.types.some((x) => x === source))
    .map((t) => t.retentionDays);
  return days.length === 0 ? 0 : Math.max(...days);
}

/**
 * Whether `partner` may still hold a received presentation at `now` (pure). It is held under each known
 * agreement that covers it as the receive check does (origin provides to `partner`, a term for its type,
 * in force at its `iat`, within the term's fields and where): until its term's `retentionDays` have
 * passed since receipt — kept no longer than agreed by the recipient, so from `receivedAt`, not from the
 * event's occurrence — or, if the agreement says `deleteOnEnd`, until it is revoked or expires. It is
 * deleted once no agreement holds it; with no known agreement covering it, at once.
 */
export function retentionVerdict(
  partner: string,
  known: ReadonlyMap<string, Known>,
  record: {
    readonly origin: string;
    readonly type: string;
    readonly issuedAt: Date;
    readonly receivedAt: Date;
    readonly claims: Readonly<Record<string, unknown>>;
    readonly disclosed: readonly string[];
  },
  now: Date,
): RetentionVerdict {
  const verdict = checkReceived([...known.values()], partner, {
    origin: record.origin,
    type: record.type,
    iat: record.issuedAt.getTime() / 1000,
    claims: record.claims,
    disclosed: record.disclosed,
  });
  if (!verdict.ok) return { keep: false, reason: 'NO_AGREEMENT', agreementIds: [] };
  let until = -Infinity;
  let ended = 0;
  for (const id of verdict.agreementIds) {
    const a = known.get(id);
    if (a === undefined) continue;
    if (a.ended && a.body.deleteOnEnd === true) {
      ended += 1;
      continue;
    }
    const days = retentionDays(a.body, record.type, record.claims.sourceType);
    until = Math.max(until, record.receivedAt.getTime() + days * DAY_MS);
  }
  const agreementIds = verdict.agreementIds;
  if (until > now.getTime()) return { keep: true, until: new Date(until), agreementIds };
  const reason = ended === agreementIds.length ? 'AGREEMENT_ENDED' : 'RETENTION_PASSED';
  return { keep: false, reason, agreementIds };
}

/**
 * Deletes message `seq` of WBX_INBOX. Idempotent: true when this call deleted it, false when it was gone
 * already (another replica's sweep, an earlier attempt). The one way records leave the inbox before its
 * max age; callers log each deletion with its reason.
 */
export async function deleteInboxRecord(jsm: JetStreamManager, seq: number): Promise<boolean> {
  try {
    return await jsm.streams.deleteMessage(INBOX_STREAM, seq, false);
  } catch (e) {
    if (!(e instanceof JetStreamApiError)) throw e;
    // nats-server answers a delete of a missing message with JSStreamMsgDeleteFailed ("no message
    // found"), not with a code of its own: the message is looked up to tell that from a real failure.
    if (e.code !== JetStreamApiCodes.NoMessageFound && (await inboxHolds(jsm, seq))) throw e;
    return false;
  }
}

/** Whether WBX_INBOX still holds message `seq`. */
async function inboxHolds(jsm: JetStreamManager, seq: number): Promise<boolean> {
  try {
    return (await jsm.streams.getMessage(INBOX_STREAM, { seq })) !== null;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return false;
    throw e;
  }
}

/** `wbx.in.<origin>.<type>` → origin. */
function originOf(subject: string): string | undefined {
  const rest = subject.startsWith(`${INBOX_SUBJECT_PREFIX}.`)
    ? subject.slice(INBOX_SUBJECT_PREFIX.length + 1)
    : undefined;
  const dot = rest?.indexOf('.') ?? -1;
  return rest === undefined || dot <= 0 ? undefined : rest.slice(0, dot);
}

/**
 * The recipient's retention: every `everyMs` it reads WBX_INBOX and deletes each record that no
 * agreement lets this partner keep any longer (see retentionVerdict), logging each deletion with its
 * origin, event id, agreements and reason, and counting it in
 * `wbx_inbox_retention_deleted_total{origin,agreement}` (`agreement` empty when none covers it).
 * It fails closed: while the agreements cannot be read it deletes nothing and says so. Replicas may sweep
 * at the same time: a record deleted by one is skipped by the other.
 */
export class InboxRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  /** A sweep was asked for while one was running: run again when it ends. */
  private again = false;
  private subscription: Disposable | undefined;

  constructor(private readonly options: InboxRetentionOptions) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /**
   * Sweeps now, then every `everyMs` and whenever the agreements change (sweeps never overlap: one asked
   * for while another runs follows it).
   */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.everyMs);
    this.timer.unref();
    this.subscription = this.options.agreements.subscribe?.(() => this.tick());
  }

  private tick(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.sweep()
      .catch((e: unknown) => this.options.log.warn({ err: e }, 'inbox retention sweep failed; retried'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.tick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.subscription?.[Symbol.dispose]();
    while (this.running !== undefined) await this.running;
  }

  /** One pass over WBX_INBOX as it is when the pass starts. */
  async sweep(): Promise<SweepResult> {
    const { jsm, log, partner } = this.options;
    const snapshot = this.options.agreements.current;
    if (snapshot.problem !== undefined) {
      log.warn(
        { code: snapshot.problem },
        'inbox retention: the agreements cannot be read; nothing deleted until they can',
      );
      return { skipped: 'AGREEMENTS_UNAVAILABLE', scanned: 0, deleted: 0, unreadable: 0, uncovered: 0 };
    }
    const now = this.now();
    const known = knownAgreements(snapshot, now);
    const last = (await jsm.streams.info(INBOX_STREAM)).state;
    if (last.messages === 0) return { scanned: 0, deleted: 0, unreadable: 0, uncovered: 0 };
    const consumer = await jsm.jetstream().consumers.get(INBOX_STREAM, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume({ max_messages: 512 });
    let scanned = 0;
    let deleted = 0;
    let unreadable = 0;
    let uncovered = 0;
    try {
      for await (const m of messages) {
        scanned += 1;
        const outcome = await this.judge(partner, known, m, now);
        if (outcome === 'unreadable') unreadable += 1;
        else if (outcome === 'deleted') deleted += 1;
        else if (outcome === 'uncovered') uncovered += 1;
        if (m.seq >= last.last_seq || m.info.pending === 0) break;
      }
    } finally {
      await messages.close();
    }
    const fields = { scanned, deleted, unreadable, uncovered, at: now.toISOString() };
    if (uncovered > 0) {
      log.warn(
        { ...fields, code: 'INBOX_UNCOVERED' },
        'inbox retention: records no known agreement covers are kept (an agreement file removed?); ' +
          'restore the file, revoke the agreement, or set inbox.deleteUncovered',
      );
    } else if (deleted > 0 || unreadable > 0) log.info(fields, 'inbox retention sweep');
    else log.debug(fields, 'inbox retention sweep');
    return { scanned, deleted, unreadable, uncovered };
  }

  private async judge(
    partner: string,
    known: ReadonlyMap<string, Known>,
    m: JsMsg,
    now: Date,
  ): Promise<'kept' | 'deleted' | 'unreadable' | 'uncovered'> {
    const { log, metrics, jsm } = this.options;
    const origin = originOf(m.subject);
    let event;
    try {
      event = readOwnSealedEvent(m.string());
    } catch {
      event = undefined;
    }
    if (origin === undefined || event === undefined) {
      log.warn(
        { seq: m.seq, code: 'UNREADABLE_RECORD' },
        'inbox retention: a record is not a presentation; kept',
      );
      return 'unreadable';
    }
    // A correction's or withdrawal's notice is the record of the change: kept as long as the inbox keeps.
    if (isRecordChangeType(event.type)) return 'kept';
    const receivedAt = new Date(Math.floor(m.info.timestampNanos / 1_000_000));
    const record = { ...event, origin, receivedAt };
    const verdict = retentionVerdict(partner, known, record, now);
    if (verdict.keep) return 'kept';
    if (verdict.reason === 'NO_AGREEMENT' && this.options.deleteUncovered !== true) return 'uncovered';
    // Gone already: another replica's sweep deleted it first.
    if (!(await deleteInboxRecord(jsm, m.seq))) return 'kept';
    const agreement = verdict.agreementIds.join(',');
    metrics?.inboxRetentionDeleted.inc({ origin, agreement });
    log.info(
      { origin, eventId: event.eventId, seq: m.seq, agreement, reason: verdict.reason },
      'inbox record deleted',
    );
    return 'deleted';
  }
}
