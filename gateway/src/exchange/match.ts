import { createHash, randomUUID } from 'node:crypto';

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  grantUnder,
  isRecordPath,
  matchesWhere,
  type ActiveAgreement,
  type Purpose,
  type RecordsTerm,
} from '@wbx/agreements';
import { appendCovering } from '@wbx/audit';
import type { MatchHit, MatchRequest, MatchResponse } from '@wbx/proto';
import { holdToken } from '@wbx/seal';

import type { LoadedAgreement } from '../agreement-set.js';
import { EVENTS_STREAM } from '../nats-layout.js';
import { CORRECTED_HEADER, versionToken, type RecordChanges, type RecordState } from '../record-changes.js';
import type { ExchangeContext } from './access.js';
import { ExchangeError } from './errors.js';
import { presentationPaths } from './query.js';
import { SUBJECT_REF_RE, subjectRefsOf, type Pseudonyms } from './pseudonyms.js';

interface Indexed {
  readonly eventId: string;
  readonly type: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** One event a keyed reference appears in, as the bucket keeps it: stream sequence, event id, type. */
interface Entry {
  readonly s: number;
  readonly e: string;
  readonly t: string;
}

/** JetStream's code for a write whose expected revision was not the key's last (another writer won). */
const WRONG_LAST_SEQUENCE = 10_071;
/** Events read from WBX_EVENTS before their keys are written and the cursor moves. */
const BATCH = 1_024;
/** KV requests in flight at once. */
const WRITES = 128;
/** Events listed in one value of a reference: a reference's list is kept in chunks of this many. */
const CHUNK = 64;

/**
 * The layout of the bucket's keys and values. An index written in another layout (the first one listed
 * a reference's events of every type in one growing value) is not read: its tags differ, so each
 * agreement is indexed again from the start.
 */
const LAYOUT = 2;

/** The bucket's short tag for an agreement (its id may hold characters a key may not). */
function agreementTag(agreementId: string): string {
  return createHash('sha256')
    .update(`${String(LAYOUT)}\u0000${agreementId}`)
    .digest('hex')
    .slice(0, 32);
}

/** The key of a reference's `n`th chunk (0 first). */
function chunkKey(refKey: string, n: number): string {
  return `${refKey}.${String(n)}`;
}

function refKey(agreementId: string, keyedRef: string): string {
  return `r.${agreementTag(agreementId)}.${keyedRef}`;
}

function cursorKey(agreementId: string): string {
  return `c.${agreementTag(agreementId)}`;
}

function isConflict(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE;
}

/** The records terms of `agreement` that can give the keyed references of `type`'s persons. */
function refTerms(agreement: ActiveAgreement, type: string): RecordsTerm[] {
  return agreement.body.terms.flatMap((term) =>
    term.mode === 'records' &&
    (term.types as readonly string[]).includes(type) &&
    presentationPaths(term.fields.filter((f) => isRecordPath(type, f))).keyRefs
      ? [term]
      : [],
  );
}

/**
 * Whether an event of `type` with `claims` can ever be a Match hit under `agreement`: a records term
 * for its type grants its persons' references and its where-conditions hold. (Purpose, time and the
 * special-category rule are checked per request.) Nothing else is indexed or fetched for a Match.
 */
function matchable(agreement: ActiveAgreement, type: string, claims: Readonly<Record<string, unknown>>) {
  return refTerms(agreement, type).some((term) => matchesWhere(term.where, claims));
}

/** The event type of a WBX_EVENTS subject (`wbx.evt.<origin>.<type>`). */
function subjectType(subject: string): string {
  return subject.split('.').slice(3).join('.');
}

/** A chunk of a reference's list as read: its events and revision. */
interface Chunk {
  readonly entries: Entry[];
  readonly revision: number;
}

/**
 * Which of this partner's events each subject reference appears in, kept in the KV bucket `wbx_match`
 * (shared by replicas, kept across restarts). Per agreement, only the events that can be a hit under
 * it are indexed — of a type whose records term grants the persons' references, meeting its
 * where-conditions — so a Match never reads an event the agreement does not cover. The key is the
 * reference keyed for that agreement (HMAC with the node's secret, as Match takes it), so the bucket
 * holds no readable reference; a reference's events (stream sequence, id, type) are listed in chunks
 * of at most CHUNK (`r.<a>.<keyed ref>.<n>`, each full but the last), so that no value grows without
 * bound. A cursor key per agreement says up to which WBX_EVENTS sequence its entries are complete: a
 * new agreement is back-filled once, then each match (and the start) only adds what was stored since.
 * Writes are compare-and-set appends to the last chunk that skip an event already listed in any chunk,
 * so two replicas, or one re-reading after a crash, never list an event twice.
 */
export class MatchIndex {
  private readonly updating = new Map<string, Promise<void>>();
  /** How many events this instance read from WBX_EVENTS to index them (none when the bucket was up to date). */
  eventsRead = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
    private readonly pseudonyms: Pseudonyms,
    private readonly agreements: () => readonly ActiveAgreement[],
    private readonly changes?: RecordChanges,
  ) {}

  /** The events corrected or withdrawn, for `lookup` (read once per Match). */
  async changed(): Promise<ReadonlyMap<string, RecordState>> {
    return (await this.changes?.snapshot()) ?? new Map<string, RecordState>();
  }

  /** Brings the index of `agreement` (default: of every agreement) up to WBX_EVENTS' last event. */
  async update(agreement?: ActiveAgreement): Promise<void> {
    for (const a of agreement === undefined ? this.agreements() : [agreement]) {
      const id = a.body.id;
      // One reader per agreement at a time; a caller arriving meanwhile reads after it.
      for (let p = this.updating.get(id); p !== undefined; p = this.updating.get(id)) await p;
      const p = this.read(a).finally(() => this.updating.delete(id));
      this.updating.set(id, p);
      await p;
    }
  }

  private async read(agreement: ActiveAgreement): Promise<void> {
    const agreementId = agreement.body.id;
    const { state } = await this.jsm.streams.info(EVENTS_STREAM);
    const last = state.last_seq;
    const done = await this.cursor(agreementId);
    if (last <= done.seq || state.messages === 0) return;
    const start = Math.max(done.seq + 1, state.first_seq);
    const consumer = await this.js.consumers.get(EVENTS_STREAM, { opt_start_seq: start });
    const messages = await consumer.consume({ max_messages: 2_048 });
    const types = new Map<string, boolean>();
    let batch = new Map<string, Entry[]>();
    let count = 0;
    let upTo = done.seq;
    const flush = async (): Promise<void> => {
      await this.merge(batch);
      await this.advance(agreementId, upTo);
      batch = new Map();
      count = 0;
    };
    try {
      for await (const m of messages) {
        upTo = m.seq;
        this.eventsRead += 1;
        // Events of a type the agreement gives no references of are not even opened. A correction is
        // indexed as its corrected event (the original's id and type), at the correction's sequence.
        const corrected = m.headers?.get(CORRECTED_HEADER) || undefined;
        const subjectTyped =
          corrected === undefined
            ? subjectType(m.subject)
            : holdToken(corrected, Number.MAX_SAFE_INTEGER).type;
        let typed = types.get(subjectTyped);
        if (typed === undefined) {
          typed = refTerms(agreement, subjectTyped).length > 0;
          types.set(subjectTyped, typed);
        }
        if (typed) {
          const { claims, eventId, type } = holdToken(corrected ?? m.string(), Number.MAX_SAFE_INTEGER);
          if (matchable(agreement, type, claims)) {
            for (const ref of new Set(subjectRefsOf(claims).filter((r) => r !== ''))) {
              const key = refKey(agreementId, this.pseudonyms.keyed(agreementId, ref));
              const list = batch.get(key) ?? [];
              list.push({ s: m.seq, e: eventId, t: type });
              batch.set(key, list);
            }
          }
        }
        count += 1;
        const end = m.seq >= last || m.info.pending === 0;
        if (count >= BATCH || end) await flush();
        if (end) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
  }

  /** The sequence up to which `agreementId`'s entries are complete (0: none yet). */
  private async cursor(agreementId: string): Promise<{ seq: number; revision: number }> {
    const e = await this.kv.get(cursorKey(agreementId));
    if (e === null || e.operation !== 'PUT') return { seq: 0, revision: e?.revision ?? 0 };
    return { seq: Number(e.string()) || 0, revision: e.revision };
  }

  /** Moves the cursor forward to `seq` (never back: another replica may be ahead). */
  private async advance(agreementId: string, seq: number): Promise<void> {
    for (;;) {
      const c = await this.cursor(agreementId);
      if (c.seq >= seq) return;
      try {
        await this.write(cursorKey(agreementId), String(seq), c.revision);
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
  }

  /** Adds each key's events to what the bucket lists for it, skipping those already there. */
  private async merge(batch: ReadonlyMap<string, readonly Entry[]>): Promise<void> {
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += WRITES) {
      await Promise.all(keys.slice(i, i + WRITES).map((k) => this.mergeOne(k, batch.get(k) ?? [])));
    }
  }

  /** A reference's chunks, from the first up to the first one not full (or missing): all but the last full. */
  private async chunks(key: string): Promise<Chunk[]> {
    const lists: Chunk[] = [];
    for (let n = 0; ; n++) {
      const e = await this.kv.get(chunkKey(key, n));
      if (e === null || e.operation !== 'PUT') return lists;
      const entries = e.json<Entry[]>();
      lists.push({ entries, revision: e.revision });
      if (entries.length < CHUNK) return lists;
    }
  }

  /**
   * Appends the events not yet listed to the reference's last chunk, then to new chunks, each write a
   * compare-and-set (a new chunk: created only if absent); a conflict rereads the chunks and starts over.
   */
  private async mergeOne(key: string, entries: readonly Entry[]): Promise<void> {
    for (;;) {
      const lists = await this.chunks(key);
      // An event is listed once per message it is stored in: its original, and each correction.
      const listed = (x: Entry): string => `${x.e}@${String(x.s)}`;
      const have = new Set(lists.flatMap((l) => l.entries.map(listed)));
      const added: Entry[] = [];
      for (const x of entries) {
        if (have.has(listed(x))) continue;
        have.add(listed(x));
        added.push(x);
      }
      if (added.length === 0) return;
      try {
        const lastChunk = lists.at(-1);
        let n = lists.length;
        let rest = added;
        if (lastChunk !== undefined && lastChunk.entries.length < CHUNK) {
          const room = CHUNK - lastChunk.entries.length;
          const value = JSON.stringify([...lastChunk.entries, ...rest.slice(0, room)]);
          await this.write(chunkKey(key, n - 1), value, lastChunk.revision);
          rest = rest.slice(room);
        }
        for (; rest.length > 0; n++, rest = rest.slice(CHUNK)) {
          await this.write(chunkKey(key, n), JSON.stringify(rest.slice(0, CHUNK)), 0);
        }
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
  }

  /** Writes `value` if the key's last revision is still `revision` (0: the key must not exist). */
  private async write(key: string, value: string, revision: number): Promise<void> {
    if (revision === 0) await this.kv.create(key, value);
    else await this.kv.update(key, value, revision);
  }

  /**
   * The events of the origin's reference behind `keyedRef` under `agreement` (none if unknown): only
   * those the index lists for it, which can be hits under it; the caller checks each one's grant.
   */
  async lookup(
    agreement: ActiveAgreement,
    keyedRef: string,
    changed: ReadonlyMap<string, RecordState> = new Map(),
  ): Promise<readonly Indexed[]> {
    const lists = await this.chunks(refKey(agreement.body.id, keyedRef));
    const listed = lists.flatMap((l) => l.entries).filter((x) => refTerms(agreement, x.t).length > 0);
    const events = await Promise.all(
      listed.map(async (x) => {
        const m = await this.jsm.streams.getMessage(EVENTS_STREAM, { seq: x.s }).catch(() => null);
        if (m === null) return undefined; // no longer stored
        const { claims, eventId, type } = holdToken(versionToken(m), Number.MAX_SAFE_INTEGER);
        // A withdrawn event is never a hit; a corrected one only as its current version.
        const state = changed.get(eventId);
        if (state !== undefined && (state.state === 'withdrawn' || state.changeSeq !== x.s)) return undefined;
        return eventId === x.e ? { eventId, type, claims } : undefined;
      }),
    );
    return events.filter((x) => x !== undefined);
  }
}

/** A token bucket per caller: `rate` requests a second, `burst` at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** Takes a token for `caller`; undefined if granted, else the milliseconds until one is free. */
  take(caller: string, now: number): number | undefined {
    const b = this.buckets.get(caller) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.rate);
    b.at = now;
    this.buckets.set(caller, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.ceil(((1 - b.tokens) / this.rate) * 1000);
  }
}

/** Checks the references of a MatchRequest: how many, and each one's form. */
export function checkRefs(req: MatchRequest, maxRefs: number): void {
  if (req.subjectRefs.length === 0) {
    throw new ExchangeError('INVALID_REQUEST', 'subjectRefs: at least one reference', 'empty match request', [
      { path: 'subjectRefs', code: 'INVALID_REQUEST', message: 'at least one reference' },
    ]);
  }
  if (req.subjectRefs.length > maxRefs) {
    throw new ExchangeError(
      'TOO_MANY_REFS',
      `subjectRefs: at most ${maxRefs} references`,
      `${req.subjectRefs.length} references`,
      [{ path: 'subjectRefs', code: 'TOO_MANY_REFS', message: `at most ${maxRefs}` }],
    );
  }
  const bad = req.subjectRefs.flatMap((r, i) => (SUBJECT_REF_RE.test(r) ? [] : [i]));
  if (bad.length > 0) {
    const violations = bad.slice(0, 20).map((i) => ({
      path: `subjectRefs[${i}]`,
      code: 'INVALID_REQUEST',
      message: 'must be 64 lowercase hex characters',
    }));
    throw new ExchangeError(
      'INVALID_REQUEST',
      `subjectRefs[${bad[0] ?? 0}]: must be 64 lowercase hex characters`,
      `${bad.length} malformed references`,
      violations,
    );
  }
}

/**
 * Hit/no-hit: for each keyed reference, the events it appears in that the agreement covers for the
 * caller and purpose — ids and types only. The request is audited (one entry listing the hit events).
 */
export async function runMatch(
  ctx: ExchangeContext,
  index: MatchIndex,
  caller: string,
  agreement: LoadedAgreement,
  purpose: Purpose,
  req: MatchRequest,
): Promise<MatchResponse> {
  await index.update(agreement);
  const now = ctx.now();
  const hits: MatchHit[] = [];
  const seen = new Set<string>();
  const refs = [...new Set(req.subjectRefs)];
  const found: (readonly Indexed[])[] = [];
  const changed = await index.changed();
  for (let i = 0; i < refs.length; i += WRITES) {
    const part = refs.slice(i, i + WRITES);
    found.push(...(await Promise.all(part.map((ref) => index.lookup(agreement, ref, changed)))));
  }
  for (const [i, ref] of refs.entries()) {
    // A hit only where the agreement gives this caller the person's (keyed) reference for that event.
    const events = (found[i] ?? []).filter((e) => {
      const event = { type: e.type, origin: ctx.partner, claims: e.claims };
      return presentationPaths(grantUnder(agreement, event, purpose, now)?.paths ?? []).keyRefs;
    });
    if (events.length === 0) continue;
    hits.push({ subjectRef: ref, events: events.map((e) => ({ eventId: e.eventId, type: e.type })) });
    for (const e of events) seen.add(e.eventId);
  }
  // One entry naming the request and listing the hit events (split at the cap; none listed on no hit).
  await appendCovering(ctx.audit, {
    recipient: caller,
    agreementId: agreement.body.id,
    eventId: randomUUID(),
    eventType: 'match.request',
    paths: [],
    mode: 'match',
    purpose,
    eventIds: [...seen],
  });
  return { hits, checked: req.subjectRefs.length };
}
