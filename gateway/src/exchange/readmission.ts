import { JetStreamApiCodes, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { ReadmissionCase } from '@wbx/proto';
import { uuidV7 } from '@wbx/schema';
import { SealError, verifyPresentation, type VerifiedEvent } from '@wbx/seal';

import type { LoadedAgreement } from '../agreement-set.js';
import type { IngestPipeline } from '../ingest-pipeline.js';
import { EVENTS_STREAM } from '../nats-layout.js';
import type { ExchangeContext } from './access.js';
import { ExchangeError } from './errors.js';

type Outcome = 'accepted' | 'rejected' | 'expired';
const REASONS = ['insufficient-evidence', 'not-national', 'already-returned', 'other'];

/** A case as stored: the sealed request, its deadline, and the answer once given. */
interface StoredCase {
  readonly requestId: string;
  readonly requestRef: string;
  readonly requestingState: string;
  readonly requestedState: string;
  readonly agreementId: string;
  readonly receivedAt: string;
  readonly deadline: string;
  readonly state: 'pending' | Outcome;
  readonly sealedRequest: string;
  readonly answeredAt?: string;
  readonly reason?: string;
  readonly sealedResponse?: string;
  /** An answer being sealed: its event id is fixed first, so that a retry stores it only once. */
  readonly answering?: {
    /** WBX_EVENTS sequence of the sealed response, once stored. */
    readonly seq?: number;
    readonly eventId: string;
    readonly outcome: Outcome;
    readonly reason?: string;
    readonly at: string;
  };
}

export interface ReadmissionDeps {
  readonly kv: KV;
  readonly jsm: JetStreamManager;
  readonly pipeline: IngestPipeline;
}

function toMessage(c: StoredCase, duplicate: boolean): ReadmissionCase {
  return {
    requestId: c.requestId,
    requestRef: c.requestRef,
    requestingState: c.requestingState,
    requestedState: c.requestedState,
    agreementId: c.agreementId,
    state: c.state,
    receivedAt: c.receivedAt,
    deadline: c.deadline,
    answeredAt: c.answeredAt,
    reason: c.reason ?? '',
    sealedRequest: c.sealedRequest,
    sealedResponse: c.sealedResponse ?? '',
    duplicate,
  };
}

/**
 * The readmission workflow at the requested state's gateway: cases in a KV bucket, each step a sealed
 * event (the requesting state's readmission.request as received; this partner's readmission.response,
 * sealed by the gateway and stored in WBX_EVENTS, from where it is shared like any event).
 */
export class Readmissions {
  constructor(
    private readonly ctx: ExchangeContext,
    private readonly deps: ReadmissionDeps,
  ) {}

  /** The requesting state hands over its sealed request; a repeat returns the case as it is. */
  async submit(caller: string, agreement: LoadedAgreement, sealed: string): Promise<ReadmissionCase> {
    const { ctx } = this;
    const now = ctx.now();
    let request: VerifiedEvent;
    try {
      request = verifyPresentation(sealed, { manifest: ctx.manifest(), now });
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      throw new ExchangeError(
        'BAD_SEALED_REQUEST',
        'the sealed request does not verify',
        `${e.code}: ${e.detail}`,
        [{ path: 'sealedRequest', code: 'BAD_SEALED_REQUEST', message: 'does not verify' }],
      );
    }
    const { claims, issuer, type } = request;
    const problem =
      type !== 'readmission.request'
        ? `type ${type}`
        : issuer !== caller || claims.requestingState !== caller
          ? `sealed by ${issuer} for ${String(claims.requestingState)}, called by ${caller}`
          : claims.requestedState !== ctx.partner
            ? `addressed to ${String(claims.requestedState)}`
            : typeof claims.requestRef !== 'string'
              ? 'requestRef not disclosed'
              : undefined;
    if (problem !== undefined) {
      throw new ExchangeError(
        'BAD_SEALED_REQUEST',
        'not a readmission request from you to this partner',
        problem,
        [
          {
            path: 'sealedRequest',
            code: 'BAD_SEALED_REQUEST',
            message: 'not a readmission request from the caller to this partner',
          },
        ],
      );
    }
    const hours = agreement.body.readmission?.answerWithinHours ?? 0;
    const stored: StoredCase = {
      requestId: request.eventId,
      requestRef: claims.requestRef as string,
      requestingState: caller,
      requestedState: ctx.partner,
      agreementId: agreement.body.id,
      receivedAt: now.toISOString(),
      deadline: new Date(now.getTime() + hours * 3_600_000).toISOString(),
      state: 'pending',
      sealedRequest: sealed,
    };
    try {
      await this.deps.kv.create(stored.requestId, JSON.stringify(stored));
    } catch (e) {
      const existing = await this.load(stored.requestId);
      if (existing === undefined) throw e;
      const mine =
        existing.value.requestingState === caller && existing.value.agreementId === agreement.body.id;
      if (!mine || existing.value.sealedRequest.split('~')[0] !== sealed.split('~')[0]) {
        // Someone else's request under this id, or another request reusing it: reveal nothing of it.
        throw new ExchangeError(
          'BAD_SEALED_REQUEST',
          'not a readmission request from you to this partner',
          `request id ${stored.requestId} is taken (by ${existing.value.requestingState} under ${existing.value.agreementId})`,
          [{ path: 'sealedRequest', code: 'BAD_SEALED_REQUEST', message: 'request id already in use' }],
        );
      }
      ctx.log.info({ request: stored.requestId }, 'readmission request submitted again');
      return toMessage(await this.settle(existing.value), true);
    }
    ctx.log.info(
      { request: stored.requestId, from: caller, deadline: stored.deadline },
      'readmission request received',
    );
    return toMessage(stored, false);
  }

  /** The case as either state may see it (expired once its deadline passed unanswered). */
  async get(caller: string, agreement: LoadedAgreement, requestId: string): Promise<ReadmissionCase> {
    return toMessage(await this.settle(await this.find(caller, agreement, requestId)), false);
  }

  /** The requested state answers: accepted, or rejected with a reason. Idempotent for the same answer. */
  async answer(
    caller: string,
    agreement: LoadedAgreement,
    requestId: string,
    outcome: string,
    reason: string,
  ): Promise<ReadmissionCase> {
    if (outcome !== 'accepted' && outcome !== 'rejected') {
      throw new ExchangeError(
        'INVALID_REQUEST',
        'outcome: must be accepted or rejected',
        `outcome ${outcome}`,
        [{ path: 'outcome', code: 'INVALID_REQUEST', message: 'must be accepted or rejected' }],
      );
    }
    if (outcome === 'rejected' ? !REASONS.includes(reason) : reason !== '') {
      const message =
        outcome === 'rejected' ? `must be one of ${REASONS.join(', ')}` : 'only with outcome rejected';
      throw new ExchangeError('INVALID_REQUEST', `reason: ${message}`, `reason ${reason}`, [
        { path: 'reason', code: 'INVALID_REQUEST', message },
      ]);
    }
    const current = await this.settle(await this.find(caller, agreement, requestId));
    if (current.state === 'expired')
      throw new ExchangeError(
        'EXPIRED',
        'the answer deadline has passed',
        `request ${requestId} expired at ${current.deadline}`,
      );
    if (current.state !== 'pending') {
      if (current.state === outcome && (current.reason ?? '') === reason) return toMessage(current, true);
      throw new ExchangeError(
        'ALREADY_ANSWERED',
        `the request was already answered: ${current.state}`,
        `request ${requestId} is ${current.state}`,
      );
    }
    return toMessage(await this.conclude(requestId, outcome, reason === '' ? undefined : reason), false);
  }

  /** The case `requestId` under this agreement, if the caller is one of its two states. */
  private async find(caller: string, agreement: LoadedAgreement, requestId: string): Promise<StoredCase> {
    const c = /^[0-9a-f-]{36}$/.test(requestId) ? (await this.load(requestId))?.value : undefined;
    if (
      c === undefined ||
      c.agreementId !== agreement.body.id ||
      (caller !== c.requestingState && caller !== c.requestedState)
    ) {
      throw new ExchangeError(
        'UNKNOWN_REQUEST',
        'no such readmission request',
        `request ${requestId} under ${agreement.body.id} for ${caller}: ${c === undefined ? 'not found' : 'not theirs'}`,
      );
    }
    return c;
  }

  private async load(requestId: string): Promise<{ value: StoredCase; revision: number } | undefined> {
    const entry = await this.deps.kv.get(requestId);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { value: entry.json<StoredCase>(), revision: entry.revision };
  }

  /**
   * Brings a pending case up to date: an interrupted answer is finished; past its deadline an unanswered
   * case becomes expired (this partner seals an `expired` response).
   */
  private async settle(c: StoredCase): Promise<StoredCase> {
    if (c.state !== 'pending') return c;
    // An answer interrupted by a crash (fixed in time, or the expiry itself) is finished first.
    if (
      c.answering !== undefined &&
      (c.answering.outcome === 'expired' || Date.parse(c.answering.at) < Date.parse(c.deadline))
    ) {
      return this.conclude(c.requestId, c.answering.outcome, c.answering.reason);
    }
    if (this.ctx.now().getTime() < Date.parse(c.deadline)) return c;
    return this.conclude(c.requestId, 'expired', undefined);
  }

  /**
   * Records the answer: fixes its event id in the case (compare-and-set), seals and stores the
   * readmission.response through the ingest pipeline (deduplicated by that id), then completes the case.
   */
  private async conclude(
    requestId: string,
    outcome: Outcome,
    reason: string | undefined,
  ): Promise<StoredCase> {
    const { kv, pipeline, jsm } = this.deps;
    for (;;) {
      const found = await this.load(requestId);
      if (found === undefined)
        throw new ExchangeError(
          'UNKNOWN_REQUEST',
          'no such readmission request',
          `request ${requestId} vanished`,
        );
      let c = found.value;
      if (c.state !== 'pending') return c;
      if (c.answering !== undefined && (c.answering.outcome !== outcome || c.answering.reason !== reason)) {
        throw new ExchangeError(
          'ALREADY_ANSWERED',
          'the request is being answered otherwise',
          `request ${requestId} is being answered ${c.answering.outcome}`,
        );
      }
      const now = this.ctx.now();
      let revision = found.revision;
      let answering = c.answering;
      if (answering === undefined && outcome !== 'expired' && now.getTime() >= Date.parse(c.deadline)) {
        throw new ExchangeError(
          'EXPIRED',
          'the answer deadline has passed',
          `request ${requestId} expired at ${c.deadline}`,
        );
      }
      if (answering === undefined) {
        answering = {
          eventId: uuidV7(now.getTime()),
          outcome,
          ...(reason === undefined ? {} : { reason }),
          at: now.toISOString(),
        };
        c = { ...c, answering };
        try {
          revision = await kv.update(requestId, JSON.stringify(c), revision);
        } catch (e) {
          if (!isStaleRevision(e)) throw e;
          continue; // someone else moved the case on: look again
        }
      }
      let seq = answering.seq;
      if (seq === undefined) {
        seq = (
          await pipeline.submit({
            eventId: answering.eventId,
            origin: this.ctx.partner,
            type: 'readmission.response',
            schemaVersion: 1,
            occurredAt: answering.at,
            recordedAt: answering.at,
            readmissionResponse: {
              requestRef: c.requestRef,
              requestingState: c.requestingState,
              requestedState: c.requestedState,
              outcome,
              ...(reason === undefined ? {} : { reason }),
            },
          })
        ).seq;
        // Where it is stored: a retry after a crash reads it there instead of storing it again (past the
        // stream's duplicate window a second publish would store a second copy).
        c = { ...c, answering: { ...answering, seq } };
        try {
          revision = await kv.update(requestId, JSON.stringify(c), revision);
        } catch (e) {
          if (!isStaleRevision(e)) throw e;
          continue;
        }
      }
      const sealedResponse = (await jsm.streams.getMessage(EVENTS_STREAM, { seq }))?.string();
      const { answering: _done, ...rest } = c;
      const done: StoredCase = {
        ...rest,
        state: outcome,
        answeredAt: answering.at,
        ...(reason === undefined ? {} : { reason }),
        ...(sealedResponse === undefined ? {} : { sealedResponse }),
      };
      try {
        await kv.update(requestId, JSON.stringify(done), revision);
      } catch (e) {
        if (!isStaleRevision(e)) throw e;
        continue;
      }
      this.ctx.log.info(
        { request: requestId, outcome, response: answering.eventId },
        'readmission request answered',
      );
      return done;
    }
  }
}

/** A compare-and-set that lost: the case changed since it was read (JetStream "wrong last sequence"). */
function isStaleRevision(e: unknown): boolean {
  // Checked by code, not class: the KV client may hold its own copy of the JetStream module.
  return (e as { code?: unknown } | null)?.code === JetStreamApiCodes.StreamWrongLastSequence;
}
