import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AuditLog } from '@wbx/audit';
import { uuidV7, validateEvent, type ValidEvent } from '@wbx/schema';
import { holdToken } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  eventSubject,
  shareConsumer,
  shareStream,
  shareSubject,
  shareSubjectPrefix,
} from '../../src/nats-layout.js';
import { NoticeAcks, type NoticeAcksOptions } from '../../src/record-change-share.js';
import {
  CORRECTED_HEADER,
  currentVersion,
  PREVIOUS_COUNT_HEADER,
  PREVIOUS_SEQ_HEADER,
  RecordChanges,
} from '../../src/record-changes.js';
import { ensureStream, eventsStreamConfig } from '../../src/streams.js';
import {
  auditEntries,
  eventsOf,
  openAudit,
  partners,
  quiet,
  until,
  type Partners,
} from '../support/fixtures.js';

let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let p: Partners;
let changes: RecordChanges;
const [first, second] = eventsOf('crossing.irregular', 2, 'record-changes');

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStream(
    jsm,
    eventsStreamConfig('MK', { maxAge: 0, maxBytes: -1, duplicateWindow: 60_000, replicas: 1 }),
  );
  p = await partners(['MK', 'RS']);
  changes = new RecordChanges({ partner: 'MK', js, jsm, replicas: 1 });
});

afterEach(async () => {
  await nc.close();
  await nats[Symbol.asyncDispose]();
});

/** Stores `event` in WBX_EVENTS as the ingest pipeline does, sealed by `by` (default: MK). */
async function store(event: ValidEvent, by = 'MK'): Promise<number> {
  const token = p.sealer(by).seal({ ...event, origin: by } as ValidEvent);
  const ack = await js.publish(eventSubject('MK', event.type), token, { msgID: event.eventId });
  return ack.seq;
}

function change(type: 'record.correction' | 'record.withdrawal', body: object): ValidEvent {
  const now = Date.now();
  const at = new Date(now - 1_000).toISOString();
  const r = validateEvent({
    eventId: uuidV7(now),
    origin: 'MK',
    type,
    schemaVersion: 1,
    occurredAt: at,
    recordedAt: at,
    ...(type === 'record.correction' ? { recordCorrection: body } : { recordWithdrawal: body }),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.violations));
  return r.event;
}

const withdrawal = (e: ValidEvent | undefined) =>
  change('record.withdrawal', { originalEventId: e?.eventId, reason: 'recorded-in-error' });

async function codes(event: ValidEvent): Promise<string[]> {
  const prepared = await changes.prepare(event);
  return prepared.ok ? [] : prepared.violations.map((v) => v.code);
}

describe('RecordChanges.prepare', () => {
  it('refuses a change of an event WBX_EVENTS does not hold (ORIGINAL_NOT_FOUND)', async () => {
    if (first === undefined) throw new Error('no event');
    await store(first);
    const unknown = change('record.withdrawal', { originalEventId: uuidV7(Date.now()), reason: 'duplicate' });
    expect(await codes(unknown)).toEqual(['ORIGINAL_NOT_FOUND']);
  });

  it('refuses a change of an event another origin issued (ORIGINAL_NOT_OWN)', async () => {
    if (first === undefined) throw new Error('no event');
    await store(first, 'RS');
    expect(await codes(withdrawal(first))).toEqual(['ORIGINAL_NOT_OWN']);
  });

  it('refuses a change of a change (ORIGINAL_NOT_CHANGEABLE)', async () => {
    if (first === undefined) throw new Error('no event');
    await store(first);
    const w = withdrawal(first);
    await store(w);
    expect(await codes(withdrawal(w))).toEqual(['ORIGINAL_NOT_CHANGEABLE']);
  });

  it('refuses a correction that changes the type (ORIGINAL_TYPE_MISMATCH)', async () => {
    if (first === undefined) throw new Error('no event');
    await store(first);
    const corrected = {
      eventId: first.eventId,
      origin: 'MK',
      type: 'smuggling.incident',
      schemaVersion: 1,
      occurredAt: first.occurredAt,
      recordedAt: first.recordedAt,
      smugglingIncident: {
        routeSegment: 'GR-MK',
        migrantsCount: 3,
        modusOperandi: 'on-foot-guided',
        caseRef: 'MK-1',
      },
    };
    const c = change('record.correction', { originalEventId: first.eventId, reason: 'other', corrected });
    expect(await codes(c)).toEqual(['ORIGINAL_TYPE_MISMATCH']);
  });

  it('refuses a change of a withdrawn event (ORIGINAL_WITHDRAWN) but lets the withdrawal be retried', async () => {
    if (first === undefined) throw new Error('no event');
    const originalSeq = await store(first);
    const w = withdrawal(first);
    const prepared = await changes.prepare(w);
    expect(prepared.ok).toBe(true);
    await changes.record(w, await store(w), originalSeq);
    expect(await codes(withdrawal(first))).toEqual(['ORIGINAL_WITHDRAWN']);
    expect(await codes(w)).toEqual([]);
    expect((await changes.state(first.eventId))?.state).toBe('withdrawn');
  });

  it('chains corrections: each names the version it replaces and the id its counts were made under', async () => {
    if (first === undefined || second === undefined) throw new Error('no event');
    const originalSeq = await store(first);
    await store(second);
    const correct = () =>
      change('record.correction', {
        originalEventId: first.eventId,
        reason: 'wrong-value',
        corrected: { ...first, crossingIrregular: { ...first.crossingIrregular, routeSegment: 'MK-RS' } },
      });
    const one = correct();
    const a = await changes.prepare(one);
    if (!a.ok) throw new Error('refused');
    expect(a.headers.get(PREVIOUS_SEQ_HEADER)).toBe(String(originalSeq));
    expect(a.headers.get(PREVIOUS_COUNT_HEADER)).toBe(first.eventId);
    const oneSeq = await store(one);
    await changes.record(one, oneSeq, originalSeq);
    const two = correct();
    const b = await changes.prepare(two);
    if (!b.ok) throw new Error('refused');
    expect(b.headers.get(PREVIOUS_SEQ_HEADER)).toBe(String(oneSeq));
    expect(b.headers.get(PREVIOUS_COUNT_HEADER)).toBe(one.eventId);
  });
});

describe('currentVersion', () => {
  it('gives a corrected event as corrected, a withdrawn one not at all, any other as stored', async () => {
    if (first === undefined || second === undefined) throw new Error('no event');
    const firstSeq = await store(first);
    const secondSeq = await store(second);
    const fixed = { ...first, crossingIrregular: { ...first.crossingIrregular, routeSegment: 'MK-RS' } };
    const c = change('record.correction', {
      originalEventId: first.eventId,
      reason: 'wrong-value',
      corrected: fixed,
    });
    const prepared = await changes.prepare(c);
    if (!prepared.ok) throw new Error('refused');
    prepared.headers.set(CORRECTED_HEADER, p.sealer('MK').seal(fixed as ValidEvent));
    const ack = await js.publish(eventSubject('MK', c.type), p.sealer('MK').seal(c), {
      msgID: c.eventId,
      headers: prepared.headers,
    });
    await changes.record(c, ack.seq, firstSeq);
    const w = withdrawal(second);
    await changes.record(w, await store(w), secondSeq);
    const changed = await changes.snapshot();
    const at = async (seq: number) =>
      currentVersion(changes, changed, (await jsm.streams.getMessage('WBX_EVENTS', { seq }))!);
    const corrected = holdToken((await at(firstSeq)) ?? '', Number.MAX_SAFE_INTEGER);
    expect(corrected.eventId).toBe(first.eventId);
    expect(corrected.claims.routeSegment).toBe('MK-RS');
    expect(await at(secondSeq)).toBeUndefined();
  });
});

describe('NoticeAcks', () => {
  /** RS's share stream holding one notice that RS has acknowledged; MK notes it as pending. */
  async function acknowledgedNotice(): Promise<string> {
    await jsm.streams.add({ name: shareStream('RS'), subjects: [`${shareSubjectPrefix('RS')}.>`] });
    await jsm.consumers.add(shareStream('RS'), {
      durable_name: shareConsumer('RS'),
      ack_policy: AckPolicy.Explicit,
    });
    const notice = withdrawal(first);
    const { seq } = await js.publish(shareSubject('RS', 'MK', notice.type), 'notice');
    const m = await (await js.consumers.get(shareStream('RS'), shareConsumer('RS'))).next();
    await m?.ackAck();
    await changes.notePending({
      recipient: 'RS',
      agreementId: 'MK-RS-1',
      changeId: notice.eventId,
      changeType: notice.type,
      originalEventId: first?.eventId ?? '',
      shareSeq: seq,
    });
    return notice.eventId;
  }

  const acks = (audit: AuditLog, options: Partial<NoticeAcksOptions> = {}) =>
    new NoticeAcks({ partner: 'MK', jsm, changes, audit, log: quiet(), leaseMs: 100, ...options });

  for (const crashPoint of ['after-claim', 'after-append'] as const) {
    it(`audits an acknowledgement once when the replica auditing it dies ${crashPoint.replace('-', ' ')}`, async () => {
      const changeId = await acknowledgedNotice();
      const audit = await openAudit(js, jsm, p);
      try {
        await expect(acks(audit, { crashPoint }).check()).rejects.toThrow(/crash/);
        // Within the lease nobody else takes it; after it, another replica does, once.
        expect(await acks(audit, { leaseMs: 60_000 }).check()).toBe(0);
        await until('the acknowledgement taken over', async () => (await acks(audit).check()) === 1);
        expect(await changes.pending()).toEqual([]);
        const entries = (await auditEntries(jsm)).filter((e) => e.kind === 'disclosure' && e.mode === 'ack');
        expect(entries.map((e) => (e.kind === 'disclosure' ? [e.recipient, e.eventId] : []))).toEqual([
          ['RS', changeId],
        ]);
      } finally {
        await audit.close();
      }
    });
  }

  it('audits no acknowledgement of a notice the share stream dropped unacknowledged (purged, expired)', async () => {
    await jsm.streams.add({ name: shareStream('RS'), subjects: [`${shareSubjectPrefix('RS')}.>`] });
    await jsm.consumers.add(shareStream('RS'), {
      durable_name: shareConsumer('RS'),
      ack_policy: AckPolicy.Explicit,
    });
    const notice = withdrawal(first);
    const { seq } = await js.publish(shareSubject('RS', 'MK', notice.type), 'notice');
    // RS fetches it and never acknowledges it; then the stream drops it (the agreement ended: purged).
    expect(await (await js.consumers.get(shareStream('RS'), shareConsumer('RS'))).next()).not.toBeNull();
    await changes.notePending({
      recipient: 'RS',
      agreementId: 'MK-RS-1',
      changeId: notice.eventId,
      changeType: notice.type,
      originalEventId: first?.eventId ?? '',
      shareSeq: seq,
    });
    await jsm.streams.purge(shareStream('RS'));
    const audit = await openAudit(js, jsm, p);
    try {
      expect(await acks(audit).check()).toBe(0);
      const entries = (await auditEntries(jsm)).filter((e) => e.kind === 'disclosure' && e.mode === 'ack');
      expect(entries).toEqual([]);
    } finally {
      await audit.close();
    }
  });

  it('lets two replicas check at once: one acknowledgement entry', async () => {
    await acknowledgedNotice();
    const audit = await openAudit(js, jsm, p);
    try {
      const counts = await Promise.all([acks(audit).check(), acks(audit).check()]);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
      const entries = (await auditEntries(jsm)).filter((e) => e.kind === 'disclosure' && e.mode === 'ack');
      expect(entries).toHaveLength(1);
    } finally {
      await audit.close();
    }
  });
});
