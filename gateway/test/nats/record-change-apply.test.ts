import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect, headers, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { uuidV7, validateEvent, type ValidEvent } from '@wbx/schema';
import { bindRefs, disclose } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fixedAgreements } from '../../src/agreements-watcher.js';
import { deleteInboxRecord } from '../../src/inbox-retention.js';
import { newUserNkey, renderAccessConfig } from '../../src/nats-access.js';
import {
  INBOX_STREAM,
  QUARANTINE_STREAM,
  shareConsumer,
  shareStream,
  shareSubject,
} from '../../src/nats-layout.js';
import { ReceiveWorker } from '../../src/receive-worker.js';
import { NOTICE_PATHS } from '../../src/record-change-share.js';
import { CORRECTED_HEADER } from '../../src/record-changes.js';
import { agreement, eventsOf, partners, quiet, until, type Partners } from '../support/fixtures.js';

// A hostile origin (MK, with its real signing key and its own NATS) sends RS change notices its own
// gateway would refuse: RS's receive worker must refuse them too, not trust the origin's checks.

const CROSSING_FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship'];
const SMUGGLING_FIELDS = ['occurredAt', 'routeSegment', 'migrantsCount'];

let dir: string;
let p: Partners;
let origin: NatsServer;
let originJs: JetStreamClient;
let originJsm: JetStreamManager;
let own: NatsServer;
let ownJsm: JetStreamManager;
const connections: NatsConnection[] = [];
let worker: ReceiveWorker | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-change-apply-'));
  p = await partners(['MK', 'RS']);
  const gatewayKey = newUserNkey();
  const rsKey = newUserNkey();
  await writeFile(join(dir, 'RS.nkey'), `${rsKey.seed}\n`, { mode: 0o600 });
  origin = await startNatsServer({
    config: renderAccessConfig({
      gateway: gatewayKey.publicKey,
      recipients: [{ id: 'RS', publicKey: rsKey.publicKey }],
    }),
  });
  const mk = await connect({
    servers: origin.url,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(gatewayKey.seed)),
  });
  connections.push(mk);
  originJs = jetstream(mk);
  originJsm = await jetstreamManager(mk);
  await originJsm.streams.add({ name: shareStream('RS'), subjects: ['wbx.share.RS.>'] });
  await originJsm.consumers.add(shareStream('RS'), {
    durable_name: shareConsumer('RS'),
    ack_policy: AckPolicy.Explicit,
  });
  own = await startNatsServer();
  const rs = await connect({ servers: own.url });
  connections.push(rs);
  ownJsm = await jetstreamManager(rs);
  const terms = [
    { types: ['crossing.irregular'], mode: 'records', fields: CROSSING_FIELDS, retentionDays: 30 },
    { types: ['smuggling.incident'], mode: 'records', fields: SMUGGLING_FIELDS, retentionDays: 30 },
  ];
  worker = new ReceiveWorker({
    partner: 'RS',
    sources: [{ partner: 'MK', url: origin.url, nkeyFile: join(dir, 'RS.nkey') }],
    js: jetstream(rs),
    jsm: ownJsm,
    manifest: () => p.manifest,
    agreements: fixedAgreements('RS', [agreement({ id: 'MK-RS-1', provider: 'MK', recipient: 'RS', terms })]),
    log: quiet(),
    verifyThreads: 0,
  });
  await worker.start();
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  for (const nc of connections.splice(0)) await nc.close();
  await own[Symbol.asyncDispose]();
  await origin[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
function change(type: 'record.correction' | 'record.withdrawal', body: object): ValidEvent {
  n += 1;
  const now = Date.now() + n;
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

/** MK puts `token` (with a corrected presentation, if given) in RS's share stream. */
async function share(type: string, token: string, corrected?: string): Promise<number> {
  const h = headers();
  if (corrected !== undefined) h.set(CORRECTED_HEADER, corrected);
  return (await originJs.publish(shareSubject('RS', 'MK', type), token, { headers: h })).seq;
}

const notice = (e: ValidEvent) => disclose(p.sealer('MK').seal(e), NOTICE_PATHS);

const acknowledged = (seq: number) =>
  until(`RS's ack of seq ${seq}`, async () => {
    const info = await originJsm.consumers.info(shareStream('RS'), shareConsumer('RS'));
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  });

/** How many messages RS's inbox holds on each of MK's subjects. */
async function inbox(): Promise<Record<string, number>> {
  const info = await ownJsm.streams.info(INBOX_STREAM, { subjects_filter: 'wbx.in.MK.>' });
  return info.state.subjects ?? {};
}

async function quarantined(): Promise<string[]> {
  const codes: string[] = [];
  const { messages } = (await ownJsm.streams.info(QUARANTINE_STREAM)).state;
  for (let seq = 1; seq <= messages; seq++) {
    const m = await ownJsm.streams.getMessage(QUARANTINE_STREAM, { seq });
    codes.push(m?.header.get('Wbx-Error-Code') ?? '');
  }
  return codes;
}

describe('a hostile origin’s change notices at the recipient', () => {
  it('cannot revive a withdrawn record with a later correction of it (ORIGINAL_WITHDRAWN)', async () => {
    const [event] = eventsOf('crossing.irregular', 1, 'apply-revive');
    if (event === undefined) throw new Error('no event');
    await acknowledged(
      await share('crossing.irregular', disclose(p.sealer('MK').seal(event), CROSSING_FIELDS)),
    );
    const withdrawal = change('record.withdrawal', { originalEventId: event.eventId, reason: 'duplicate' });
    await acknowledged(await share('record.withdrawal', notice(withdrawal)));
    expect(await inbox()).toEqual({ 'wbx.in.MK.record.withdrawal': 1 });

    const corrected = { ...event, crossingIrregular: { ...event.crossingIrregular } } as ValidEvent;
    const correction = change('record.correction', {
      originalEventId: event.eventId,
      reason: 'other',
      corrected,
    });
    const presented = disclose(p.sealer('MK').seal(corrected), CROSSING_FIELDS);
    await acknowledged(await share('record.correction', notice(correction), presented));
    // And the original itself, re-sent: still withdrawn.
    await acknowledged(
      await share('crossing.irregular', disclose(p.sealer('MK').seal(event), CROSSING_FIELDS)),
    );

    expect(await inbox()).toEqual({ 'wbx.in.MK.record.withdrawal': 1 });
    expect(await quarantined()).toEqual(['ORIGINAL_WITHDRAWN']);
  });

  it('cannot change a record’s type with a correction (ORIGINAL_TYPE_MISMATCH)', async () => {
    const [event] = eventsOf('crossing.irregular', 1, 'apply-retype');
    if (event === undefined) throw new Error('no event');
    await acknowledged(
      await share('crossing.irregular', disclose(p.sealer('MK').seal(event), CROSSING_FIELDS)),
    );
    const corrected = {
      eventId: event.eventId,
      origin: 'MK',
      type: 'smuggling.incident',
      schemaVersion: 1,
      occurredAt: event.occurredAt,
      recordedAt: event.recordedAt,
      smugglingIncident: {
        routeSegment: 'GR-MK',
        migrantsCount: 3,
        modusOperandi: 'on-foot-guided',
        caseRef: 'MK-1',
      },
    };
    const checked = validateEvent(corrected);
    if (!checked.ok) throw new Error(JSON.stringify(checked.violations));
    const correction = change('record.correction', {
      originalEventId: event.eventId,
      reason: 'other',
      corrected,
    });
    const presented = disclose(p.sealer('MK').seal(checked.event), SMUGGLING_FIELDS);
    await acknowledged(await share('record.correction', notice(correction), presented));

    expect(await inbox()).toEqual({ 'wbx.in.MK.crossing.irregular': 1 });
    expect(await quarantined()).toEqual(['ORIGINAL_TYPE_MISMATCH']);
  });

  it('cannot bring back, with a correction, a record the recipient’s retention deleted', async () => {
    const [event] = eventsOf('crossing.irregular', 1, 'apply-retained');
    if (event === undefined) throw new Error('no event');
    await acknowledged(
      await share('crossing.irregular', disclose(p.sealer('MK').seal(event), CROSSING_FIELDS)),
    );
    // What the retention sweep does once the agreement's retention has run out.
    expect(await deleteInboxRecord(ownJsm, 1)).toBe(true);
    const correction = change('record.correction', {
      originalEventId: event.eventId,
      reason: 'other',
      corrected: event,
    });
    const presented = disclose(p.sealer('MK').seal(event), CROSSING_FIELDS);
    await acknowledged(await share('record.correction', notice(correction), presented));

    expect(await inbox()).toEqual({ 'wbx.in.MK.record.correction': 1 });
    expect(await quarantined()).toEqual([]);
  });

  it('keeps no change notice with subject references bound to it (notices outlive retention)', async () => {
    const [event] = eventsOf('crossing.irregular', 1, 'apply-bound');
    if (event === undefined) throw new Error('no event');
    await acknowledged(
      await share('crossing.irregular', disclose(p.sealer('MK').seal(event), CROSSING_FIELDS)),
    );
    const withdrawal = change('record.withdrawal', { originalEventId: event.eventId, reason: 'duplicate' });
    const refs = { persons: ['ab'.repeat(32), 'cd'.repeat(32)] };
    const bound = bindRefs(
      notice(withdrawal),
      { issuer: 'MK', eventId: withdrawal.eventId },
      { agreementId: 'MK-RS-1', refs },
      p.signer('MK'),
    );
    await acknowledged(await share('record.withdrawal', bound));

    expect(await inbox()).toEqual({ 'wbx.in.MK.crossing.irregular': 1 });
    expect(await quarantined()).toEqual(['BAD_REF_BINDING']);
  });
});
