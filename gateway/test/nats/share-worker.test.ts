import { randomBytes } from 'node:crypto';

import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AuditLog, AuditSink, DisclosureRecord } from '@wbx/audit';
import type { ValidEvent } from '@wbx/schema';
import { verifyPresentation } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LoadedAgreement } from '../../src/agreement-set.js';
import { fixedAgreements } from '../../src/agreements-watcher.js';
import { Aggregator } from '../../src/aggregator.js';
import {
  EVENTS_STREAM,
  eventSubject,
  SHARE_CONSUMER,
  shareStream,
  STATE_BUCKET,
} from '../../src/nats-layout.js';
import { Pseudonyms } from '../../src/exchange/pseudonyms.js';
import { ShareWorker } from '../../src/share-worker.js';
import { ensureStream, eventsStreamConfig } from '../../src/streams.js';
import {
  agreement,
  auditEntries,
  eventsOf,
  messages,
  openAudit,
  partners,
  quiet,
  until,
  type Partners,
} from '../support/fixtures.js';

const RS_FIELDS = ['routeSegment', 'persons.citizenship'];

let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let p: Partners;
let audit: AuditLog;
let worker: ShareWorker | undefined;

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  p = await partners(['MK', 'RS']);
  const streams = { maxAge: 0, maxBytes: -1, duplicateWindow: 60_000, replicas: 1 };
  await ensureStream(jsm, eventsStreamConfig('MK', streams));
  audit = await openAudit(js, jsm, p);
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  await audit.close();
  await nc.close();
  await nats[Symbol.asyncDispose]();
});

/** MK's share worker under `agreements`, recording disclosures in `sink` (default: the audit log). */
async function startWorker(agreements: LoadedAgreement[], sink: AuditSink = audit): Promise<ShareWorker> {
  const state = await new Kvm(js).create(STATE_BUCKET);
  const log = quiet();
  const aggregator = new Aggregator({ partner: 'MK', js, state, sealer: p.sealer('MK'), audit: sink, log });
  worker = new ShareWorker({
    partner: 'MK',
    js,
    jsm,
    agreements: fixedAgreements('MK', agreements),
    audit: sink,
    aggregator,
    log,
    refs: { pseudonyms: new Pseudonyms(randomBytes(32)), signer: p.signer('MK') },
  });
  await worker.start();
  return worker;
}

/** Seals `event` as MK's gateway does and stores it in WBX_EVENTS; resolves to its stream seq. */
async function ingest(event: ValidEvent): Promise<number> {
  const token = p.sealer('MK').seal(event);
  return (await js.publish(eventSubject('MK', event.type), token, { msgID: event.eventId })).seq;
}

/** Resolves once the share consumer has acknowledged everything up to `seq`. */
const acknowledged = (seq: number) =>
  until(
    `ack of seq ${seq}`,
    async () => (await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER)).ack_floor.stream_seq >= seq,
  );

/** An audit sink that holds every append until `release()`, then stores it in the audit log. */
function heldAudit(log: AuditLog) {
  const appended: DisclosureRecord[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let called!: () => void;
  const first = new Promise<void>((resolve) => (called = resolve));
  const sink: AuditSink = {
    get failure() {
      return log.failure;
    },
    async append(record: DisclosureRecord) {
      appended.push(record);
      called();
      await released;
      return log.append(record);
    },
  };
  return { sink, appended, first, release };
}

describe('ShareWorker', () => {
  it('shares exactly the disclosures the agreement allows, once the audit entry is stored', async () => {
    const held = heldAudit(audit);
    const fields = { types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 };
    await startWorker(
      [agreement({ id: 'MK-RS-1', provider: 'MK', recipient: 'RS', terms: [fields] })],
      held.sink,
    );
    const [event] = eventsOf('crossing.irregular', 1, 'share-one');
    const seq = await ingest(event!);

    // The audit entry is asked for first: while it is not stored, nothing has gone to RS's stream.
    await held.first;
    expect(held.appended).toMatchObject([
      { recipient: 'RS', agreementId: 'MK-RS-1', eventId: event!.eventId, paths: [...RS_FIELDS].sort() },
    ]);
    expect(await messages(jsm, shareStream('RS'))).toBe(0);
    held.release();

    await acknowledged(seq);
    const shared = await jsm.streams.getMessage(shareStream('RS'), { seq: 1 });
    expect(shared?.subject).toBe('wbx.share.RS.MK.crossing.irregular');
    expect(shared?.header.get('Nats-Msg-Id')).toBe(event!.eventId);
    const verified = verifyPresentation(shared!.string(), { manifest: p.manifest });
    expect(verified).toMatchObject({ issuer: 'MK', eventId: event!.eventId, type: 'crossing.irregular' });
    expect(verified.disclosed).toEqual(['persons', ...RS_FIELDS].sort());
    const persons = verified.claims.persons as Record<string, unknown>[];
    expect(persons.every((x) => Object.keys(x).join() === 'citizenship')).toBe(true);

    const disclosures = (await auditEntries(jsm)).filter((e) => e.kind === 'disclosure');
    expect(disclosures).toMatchObject([{ recipient: 'RS', agreementId: 'MK-RS-1', mode: 'records' }]);
    expect(disclosures.flatMap((e) => e.eventIds ?? [e.eventId])).toEqual([event!.eventId]);
  });

  it('resumes from the share consumer after a restart: nothing shared or audited again, new events shared', async () => {
    const fields = { types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 };
    const counts = {
      types: ['crossing.irregular'],
      mode: 'aggregate',
      dimensions: ['routeSegment'],
      period: 'week',
      minCell: 3,
      retentionDays: 30,
    };
    const agreements = [
      agreement({ id: 'MK-RS-3', provider: 'MK', recipient: 'RS', terms: [fields, counts] }),
    ];
    await startWorker(agreements);
    /** The running counts in wbx_state: each key at its revision. */
    const state = async (): Promise<string[]> => {
      const kv = await new Kvm(js).open(STATE_BUCKET);
      const out: string[] = [];
      for await (const k of await kv.keys()) out.push(`${k}@${(await kv.get(k))?.revision}`);
      return out.sort();
    };
    const [first, second, third] = eventsOf('crossing.irregular', 3, 'share-restart');
    await ingest(first!);
    await acknowledged(await ingest(second!));
    const disclosed = async () =>
      (await auditEntries(jsm))
        .filter((e) => e.kind === 'disclosure')
        .flatMap((e) => e.eventIds ?? [e.eventId]);
    expect(await messages(jsm, shareStream('RS'))).toBe(2);
    const before = await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER);
    const entries = (await auditEntries(jsm)).length;
    const counted = await state();
    expect(counted.length).toBeGreaterThan(0);

    await worker!.stop();
    await startWorker(agreements);
    // The durable consumer delivered nothing again; the share stream and the audit log are unchanged.
    const after = await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER);
    expect(after.delivered.consumer_seq).toBe(before.delivered.consumer_seq);
    expect(after.ack_floor.stream_seq).toBe(before.ack_floor.stream_seq);
    expect(after.num_redelivered).toBe(0);
    expect(await messages(jsm, shareStream('RS'))).toBe(2);
    expect((await auditEntries(jsm)).length).toBe(entries);
    // WBX_EVENTS is not read again: no other consumer on it, and no count touched.
    const readers: string[] = [];
    for await (const c of jsm.consumers.list(EVENTS_STREAM)) readers.push(c.name);
    expect(readers).toEqual([SHARE_CONSUMER]);
    expect(await state()).toEqual(counted);

    await acknowledged(await ingest(third!));
    expect(await messages(jsm, shareStream('RS'))).toBe(3);
    expect((await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER)).delivered.consumer_seq).toBe(
      before.delivered.consumer_seq + 1,
    );
    expect((await disclosed()).sort()).toEqual([first!.eventId, second!.eventId, third!.eventId].sort());
  });

  it('does not audit again an event another replica audited before it died: redelivered, it is shared once', async () => {
    const fields = { types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 };
    const agreements = [agreement({ id: 'MK-RS-4', provider: 'MK', recipient: 'RS', terms: [fields] })];
    // Replica A (by hand): takes both events from wbx-share, audits the first, and dies before publishing
    // either; both come back after ack_wait (here: at once, as a nak).
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: SHARE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 1_024,
      ack_wait: 30_000_000_000,
    });
    const [audited, notAudited] = eventsOf('crossing.irregular', 2, 'share-redelivered');
    await ingest(audited!);
    const last = await ingest(notAudited!);
    const replicaA = await js.consumers.get(EVENTS_STREAM, SHARE_CONSUMER);
    const taken = [await replicaA.next(), await replicaA.next()];
    await audit.append({
      recipient: 'RS',
      agreementId: 'MK-RS-4',
      eventId: audited!.eventId,
      eventType: 'crossing.irregular',
      paths: [...RS_FIELDS].sort(),
      mode: 'records',
    });
    for (const m of taken) m?.nak();

    // Replica B: gets them again, shares both, and audits only the one the chain does not list.
    await startWorker(agreements);
    await acknowledged(last);
    expect(await messages(jsm, shareStream('RS'))).toBe(2);
    const disclosed = (await auditEntries(jsm))
      .filter((e) => e.kind === 'disclosure')
      .flatMap((e) => e.eventIds ?? [e.eventId]);
    expect(disclosed.toSorted()).toEqual([audited!.eventId, notAudited!.eventId].toSorted());
  });

  it('acknowledges an event no agreement grants, and neither shares nor audits it', async () => {
    const smuggling = {
      types: ['smuggling.incident'],
      mode: 'records',
      fields: ['routeSegment'],
      retentionDays: 30,
    };
    await startWorker([agreement({ id: 'MK-RS-2', provider: 'MK', recipient: 'RS', terms: [smuggling] })]);
    const [crossing] = eventsOf('crossing.irregular', 1, 'share-none');
    await acknowledged(await ingest(crossing!));
    expect(await messages(jsm, shareStream('RS'))).toBe(0);
    expect((await auditEntries(jsm)).filter((e) => e.kind === 'disclosure')).toEqual([]);
  });
});
