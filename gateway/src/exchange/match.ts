import { randomUUID } from 'node:crypto';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { grantUnder, type Purpose } from '@wbx/agreements';
import { appendCovering } from '@wbx/audit';
import type { MatchHit, MatchRequest, MatchResponse } from '@wbx/proto';
import { holdToken } from '@wbx/seal';

import type { LoadedAgreement } from '../agreement-set.js';
import { EVENTS_STREAM } from '../nats-layout.js';
import type { ExchangeContext } from './access.js';
import { ExchangeError } from './errors.js';
import { presentationPaths } from './query.js';
import { SUBJECT_REF_RE, subjectRefsOf, type Pseudonyms } from './pseudonyms.js';

interface Indexed {
  readonly eventId: string;
  readonly type: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Which of this partner's events each subject reference appears in, kept in memory and brought up to
 * date from WBX_EVENTS before each match; and, per agreement, the keyed form of every reference.
 */
export class MatchIndex {
  private readonly byRef = new Map<string, Indexed[]>();
  private readonly refs: string[] = [];
  private readonly keyed = new Map<string, { done: number; map: Map<string, string> }>();
  private upTo = 0;
  private updating: Promise<void> | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly pseudonyms: Pseudonyms,
  ) {}

  /** Reads what WBX_EVENTS gained since the last call (one reader at a time). */
  async update(): Promise<void> {
    while (this.updating !== undefined) await this.updating;
    this.updating = this.read().finally(() => {
      this.updating = undefined;
    });
    await this.updating;
  }

  private async read(): Promise<void> {
    const { state } = await this.jsm.streams.info(EVENTS_STREAM);
    const last = state.last_seq;
    if (last <= this.upTo || state.messages === 0) return;
    const start = Math.max(this.upTo + 1, state.first_seq);
    const consumer = await this.js.consumers.get(EVENTS_STREAM, { opt_start_seq: start });
    const messages = await consumer.consume({ max_messages: 2_048 });
    try {
      for await (const m of messages) {
        this.upTo = m.seq;
        this.add(m.string());
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
  }

  /** Indexes one sealed event by the subject references of its persons. */
  private add(token: string): void {
    const { claims, eventId, type } = holdToken(token, Number.MAX_SAFE_INTEGER);
    const refs = subjectRefsOf(claims).filter((r) => r !== '');
    if (refs.length === 0) return;
    // Kept small: what the policy engine reads (where-conditions test top-level values only).
    const kept: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(claims))
      if (typeof v === 'string' || typeof v === 'boolean') kept[k] = v;
    const event = { eventId, type, claims: kept };
    for (const ref of new Set(refs)) {
      let list = this.byRef.get(ref);
      if (list === undefined) {
        list = [];
        this.byRef.set(ref, list);
        this.refs.push(ref);
      }
      list.push(event);
    }
  }

  /** The events of the origin's reference behind `keyedRef` under `agreementId` (none if unknown). */
  lookup(agreementId: string, keyedRef: string): readonly Indexed[] {
    let k = this.keyed.get(agreementId);
    if (k === undefined) {
      k = { done: 0, map: new Map() };
      this.keyed.set(agreementId, k);
    }
    for (; k.done < this.refs.length; k.done += 1) {
      const ref = this.refs[k.done] ?? '';
      k.map.set(this.pseudonyms.keyed(agreementId, ref), ref);
    }
    const ref = k.map.get(keyedRef);
    return ref === undefined ? [] : (this.byRef.get(ref) ?? []);
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
  await index.update();
  const now = ctx.now();
  const hits: MatchHit[] = [];
  const seen = new Set<string>();
  for (const ref of new Set(req.subjectRefs)) {
    // A hit only where the agreement gives this caller the person's (keyed) reference for that event.
    const events = index.lookup(agreement.body.id, ref).filter((e) => {
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
