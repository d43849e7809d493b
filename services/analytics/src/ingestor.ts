import {
  DeliverPolicy,
  jetstream,
  type ConsumerMessages,
  type JsMsg,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AGGREGATE_TYPE, checkReceived, inForce, type ActiveAgreement } from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import { SealError, verifyPresentation, type SealErrorCode, type VerifiedEvent } from '@wbx/seal';

import type { Provenance } from './figure.js';
import type { ReceivedCell, StoreItem } from './store.js';
import type { AnalyticsStore } from './store.js';

/** Why an inbox message was not taken in. */
export type IngestRefusalCode =
  | 'SUBJECT_MISMATCH'
  | 'MSG_ID_MISMATCH'
  /** No agreement this node holds covers it (its agreement cannot be named). */
  | 'NO_AGREEMENT'
  /** The token does not verify against the manifest. */
  | SealErrorCode;

export interface InboxIngestorOptions {
  /** A connection to the gateway's own NATS (the one holding its inbox). */
  readonly nc: NatsConnection;
  readonly store: AnalyticsStore;
  /** The inbox stream (`INBOX_STREAM` of @wbx/gateway). */
  readonly stream: string;
  /** The Nats-Msg-Id the gateway stores an event of `origin` under (`inboxMsgId` of @wbx/gateway). */
  readonly msgId: (origin: string, eventId: string) => string;
  /** This node's partner: the recipient of the agreements. */
  readonly partner: string;
  /** The trusted manifest, as now. */
  readonly manifest: () => ManifestBody;
  /** The agreements this partner holds (active), as now: each figure is attributed to one of them. */
  readonly agreements: () => readonly ActiveAgreement[];
  readonly now?: () => Date;
  /** Messages written per transaction at most. */
  readonly batch?: number;
  readonly onRefused?: (seq: number, code: IngestRefusalCode, detail: string) => void;
  readonly onError?: (error: unknown) => void;
}

export interface IngestStats {
  /** New aggregates and records kept. */
  stored: number;
  /** Inbox messages already kept (a redelivery, or read again). */
  duplicates: number;
  refused: number;
  /** The inbox sequence taken in up to. */
  position: number;
}

type Outcome = { ok: true; item: StoreItem } | { ok: false; code: IngestRefusalCode; detail: string };

/** Where an inbox item came from: its origin, event, key and agreement, and when it was verified. */
function provenanceOf(v: VerifiedEvent, m: JsMsg, agreementId: string, now: Date): Provenance {
  return {
    origin: v.issuer,
    eventId: v.eventId,
    kid: v.kid,
    agreementId,
    issuedAt: v.issuedAt.toISOString(),
    verifiedAt: now.toISOString(),
    inboxSeq: m.seq,
  };
}

/**
 * Reads the gateway's WBX_INBOX into the analytics store: from the store's position on (a restart
 * continues; nothing is taken twice), each message verified again against the manifest (the same
 * checks as `wbx tail`: the token, its subject and message id) and attributed to the agreement that
 * covers it (checkReceived of @wbx/agreements); aggregates become vintages, records are kept as records.
 */
export class InboxIngestor {
  readonly stats: IngestStats = { stored: 0, duplicates: 0, refused: 0, position: 0 };
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly options: InboxIngestorOptions) {}

  async start(): Promise<void> {
    const { store, nc, stream } = this.options;
    this.stats.position = await store.position();
    const from = this.stats.position + 1;
    const consumerOptions: Partial<OrderedConsumerOptions> =
      from <= 1
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from };
    const consumer = await jetstream(nc).consumers.get(stream, consumerOptions);
    this.messages = await consumer.consume();
    this.loop = this.run(this.messages);
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    const max = this.options.batch ?? 500;
    let items: StoreItem[] = [];
    let last = this.stats.position;
    const flush = async (): Promise<void> => {
      if (last <= this.stats.position) return;
      const added = await this.options.store.write(items, last);
      this.stats.stored += added;
      this.stats.duplicates += items.length - added;
      this.stats.position = last;
      items = [];
    };
    try {
      for await (const m of messages) {
        const outcome = this.take(m);
        if (outcome.ok) items.push(outcome.item);
        else {
          this.stats.refused += 1;
          this.options.onRefused?.(m.seq, outcome.code, outcome.detail);
        }
        last = m.seq;
        if (items.length >= max || m.info.pending === 0) await flush();
      }
      await flush();
    } catch (e) {
      if (!this.stopping) this.options.onError?.(e);
    }
  }

  private take(m: JsMsg): Outcome {
    const now = this.options.now?.() ?? new Date();
    const token = m.string().trim();
    let v: VerifiedEvent;
    try {
      v = verifyPresentation(token, { manifest: this.options.manifest(), now });
    } catch (e) {
      if (e instanceof SealError) return { ok: false, code: e.code, detail: e.detail ?? e.message };
      throw e;
    }
    const tokens = m.subject.split('.');
    if (tokens.at(-3) !== v.issuer || tokens.slice(-2).join('.') !== v.type) {
      return {
        ok: false,
        code: 'SUBJECT_MISMATCH',
        detail: `a ${v.type} event of ${v.issuer} on ${m.subject}`,
      };
    }
    // A corrected version is stored under the original's id and the correction's: `<id>.<notice id>`.
    const msgId = m.headers?.get('Nats-Msg-Id');
    const expected = this.options.msgId(v.issuer, v.eventId);
    if (msgId !== undefined && msgId !== '' && msgId !== expected && !msgId.startsWith(`${expected}.`)) {
      return { ok: false, code: 'MSG_ID_MISMATCH', detail: `Nats-Msg-Id ${msgId}` };
    }
    if (v.type === 'record.correction' || v.type === 'record.withdrawal')
      return this.change(v, m, token, now);
    const verdict = checkReceived(this.options.agreements(), this.options.partner, {
      origin: v.issuer,
      type: v.type,
      iat: v.issuedAt.getTime() / 1000,
      claims: v.claims,
      disclosed: v.disclosed,
      ...(v.refAgreement === undefined ? {} : { refAgreement: v.refAgreement }),
    });
    const agreementId = verdict.ok ? verdict.agreementIds[0] : undefined;
    if (agreementId === undefined) {
      return { ok: false, code: 'NO_AGREEMENT', detail: verdict.ok ? 'no agreement' : verdict.detail };
    }
    const provenance = provenanceOf(v, m, agreementId, now);
    if (v.type !== AGGREGATE_TYPE) {
      return { ok: true, item: { kind: 'record', provenance, type: v.type, claims: v.claims, token } };
    }
    const c = v.claims;
    return {
      ok: true,
      item: {
        kind: 'aggregate',
        provenance,
        sourceType: String(c.sourceType),
        period: String(c.period),
        dimensions: c.dimensions as string[],
        minCell: Number(c.minCell),
        cells: (c.cells ?? []) as ReceivedCell[],
        token,
      },
    };
  }

  /**
   * A correction or withdrawal notice (the gateway verified and applied it to its inbox): attributed to
   * the first agreement, by id, in which its origin provides to this partner, in force at its `iat`.
   */
  private change(v: VerifiedEvent, m: JsMsg, token: string, now: Date): Outcome {
    const iat = v.issuedAt.getTime();
    const [agreementId] = this.options
      .agreements()
      .filter(
        (a) => a.body.provider === v.issuer && a.body.recipient === this.options.partner && inForce(a, iat),
      )
      .map((a) => a.body.id)
      .sort();
    const original = v.claims.originalEventId;
    if (agreementId === undefined || typeof original !== 'string') {
      const detail = agreementId === undefined ? `no agreement with ${v.issuer} at iat` : 'no original';
      return { ok: false, code: 'NO_AGREEMENT', detail };
    }
    const reason = v.claims.reason;
    return {
      ok: true,
      item: {
        kind: 'change',
        provenance: provenanceOf(v, m, agreementId, now),
        type: v.type as 'record.correction' | 'record.withdrawal',
        originalEventId: original,
        ...(typeof reason === 'string' ? { reason } : {}),
        token,
      },
    };
  }

  /** Stops reading; what was read is written first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    await this.loop;
  }
}
