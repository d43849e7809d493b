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
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { disclose } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fixedAgreements } from '../../src/agreements-watcher.js';
import { newUserNkey, renderAccessConfig } from '../../src/nats-access.js';
import {
  INBOX_STREAM,
  QUARANTINE_STREAM,
  shareConsumer,
  shareStream,
  shareSubject,
} from '../../src/nats-layout.js';
import { ReceiveWorker } from '../../src/receive-worker.js';
import { agreement, eventsOf, messages, partners, quiet, until, type Partners } from '../support/fixtures.js';

const RS_FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship'];

let dir: string;
let p: Partners;
/** MK's NATS, where RS holds a user in its own account, reaching only its consumer. */
let origin: NatsServer;
let originJs: JetStreamClient;
let originJsm: JetStreamManager;
/** RS's own NATS: its inbox and quarantine. */
let own: NatsServer;
let ownJsm: JetStreamManager;
const connections: NatsConnection[] = [];
let worker: ReceiveWorker | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-receive-'));
  p = await partners(['MK', 'RS', 'AL']);
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
  const terms = [{ types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 }];
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

/** Puts `token` in RS's share stream on MK's NATS, as MK's share worker does. */
async function share(token: string, msgID?: string): Promise<number> {
  const subject = shareSubject('RS', 'MK', 'crossing.irregular');
  return (await originJs.publish(subject, token, msgID === undefined ? {} : { msgID })).seq;
}

/** Resolves once RS has acknowledged everything MK's share stream holds up to `seq`. */
const acknowledged = (seq: number) =>
  until(`RS's ack of seq ${seq}`, async () => {
    const info = await originJsm.consumers.info(shareStream('RS'), shareConsumer('RS'));
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  });

describe('ReceiveWorker', () => {
  it('verifies a presentation from the origin and stores it in WBX_INBOX under <origin>.<event id>', async () => {
    const [event] = eventsOf('crossing.irregular', 1, 'receive-one');
    const presentation = disclose(p.sealer('MK').seal(event!), RS_FIELDS);
    await acknowledged(await share(presentation, event!.eventId));

    expect(await messages(ownJsm, INBOX_STREAM)).toBe(1);
    const stored = await ownJsm.streams.getMessage(INBOX_STREAM, { seq: 1 });
    expect(stored?.subject).toBe('wbx.in.MK.crossing.irregular');
    expect(stored?.header.get('Nats-Msg-Id')).toBe(`MK.${event!.eventId}`);
    expect(stored?.string()).toBe(presentation);
    expect(await messages(ownJsm, QUARANTINE_STREAM)).toBe(0);
  });

  it('quarantines, with its code, what does not verify or goes beyond the agreement', async () => {
    const [a, b, c] = eventsOf('crossing.irregular', 3, 'receive-bad');
    // A claim changed after sealing: the signature no longer covers the payload.
    const [header, payload, signature] = disclose(p.sealer('MK').seal(a!), RS_FIELDS)
      .split('~')[0]!
      .split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, wbx_type: 'smuggling.incident' })).toString(
      'base64url',
    );
    await share(`${header!}.${forged}.${signature!}~`);
    // Genuine, but AL's event in MK's share stream.
    await share(disclose(p.sealer('AL').seal({ ...b!, origin: 'AL' }), RS_FIELDS));
    // Genuine and MK's, but with a field the agreement does not list (refused on its third delivery).
    const last = await share(disclose(p.sealer('MK').seal(c!), [...RS_FIELDS, 'borderSection']));
    await acknowledged(last);

    expect(await messages(ownJsm, INBOX_STREAM)).toBe(0);
    const codes: string[] = [];
    for (let seq = 1; seq <= 3; seq++) {
      const m = await ownJsm.streams.getMessage(QUARANTINE_STREAM, { seq });
      expect(m?.subject).toBe('wbx.quarantine.MK');
      codes.push(`${m?.header.get('Wbx-Origin-Seq') ?? ''}:${m?.header.get('Wbx-Error-Code') ?? ''}`);
    }
    expect(codes.sort()).toEqual(['1:BAD_SIGNATURE', '2:UNKNOWN_ISSUER', '3:FIELDS_BEYOND_AGREEMENT']);
  });

  it("stores both origins' events when two origins share an event id: one cannot suppress the other's", async () => {
    // AL shares with RS too, from its own NATS; RS receives from MK and AL.
    await worker?.stop();
    const alKey = newUserNkey();
    const rsKey = newUserNkey();
    await writeFile(join(dir, 'RS-at-AL.nkey'), `${rsKey.seed}\n`, { mode: 0o600 });
    await using al = await startNatsServer({
      config: renderAccessConfig({
        gateway: alKey.publicKey,
        recipients: [{ id: 'RS', publicKey: rsKey.publicKey }],
      }),
    });
    const alNc = await connect({
      servers: al.url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(alKey.seed)),
    });
    connections.push(alNc);
    const alJsm = await jetstreamManager(alNc);
    await alJsm.streams.add({ name: shareStream('RS'), subjects: ['wbx.share.RS.>'] });
    await alJsm.consumers.add(shareStream('RS'), {
      durable_name: shareConsumer('RS'),
      ack_policy: AckPolicy.Explicit,
    });
    const terms = [{ types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 }];
    worker = new ReceiveWorker({
      partner: 'RS',
      sources: [
        { partner: 'MK', url: origin.url, nkeyFile: join(dir, 'RS.nkey') },
        { partner: 'AL', url: al.url, nkeyFile: join(dir, 'RS-at-AL.nkey') },
      ],
      js: ownJsm.jetstream(),
      jsm: ownJsm,
      manifest: () => p.manifest,
      agreements: fixedAgreements('RS', [
        agreement({ id: 'MK-RS-1', provider: 'MK', recipient: 'RS', terms }),
        agreement({ id: 'AL-RS-1', provider: 'AL', recipient: 'RS', terms }),
      ]),
      log: quiet(),
      verifyThreads: 0,
    });
    await worker.start();

    // AL (hostile, or by chance) issues an event under the id of MK's event, and shares it first.
    const [event] = eventsOf('crossing.irregular', 1, 'receive-two-origins');
    const fromAl = disclose(p.sealer('AL').seal({ ...event!, origin: 'AL' }), RS_FIELDS);
    const alSeq = (
      await jetstream(alNc).publish(shareSubject('RS', 'AL', 'crossing.irregular'), fromAl, {
        msgID: event!.eventId,
      })
    ).seq;
    await until(`RS's ack of AL's seq ${alSeq}`, async () => {
      const info = await alJsm.consumers.info(shareStream('RS'), shareConsumer('RS'));
      return info.ack_floor.stream_seq >= alSeq && info.num_ack_pending === 0;
    });
    const fromMk = disclose(p.sealer('MK').seal(event!), RS_FIELDS);
    await acknowledged(await share(fromMk, event!.eventId));

    expect(await messages(ownJsm, INBOX_STREAM)).toBe(2);
    const stored = new Map<string, string>();
    for (let seq = 1; seq <= 2; seq++) {
      const m = await ownJsm.streams.getMessage(INBOX_STREAM, { seq });
      stored.set(m?.header.get('Nats-Msg-Id') ?? '', `${m?.subject ?? ''} ${m?.string() ?? ''}`);
    }
    expect(stored).toEqual(
      new Map([
        [`AL.${event!.eventId}`, `wbx.in.AL.crossing.irregular ${fromAl}`],
        [`MK.${event!.eventId}`, `wbx.in.MK.crossing.irregular ${fromMk}`],
      ]),
    );
    expect(await messages(ownJsm, QUARANTINE_STREAM)).toBe(0);
  });

  it('stops while it is still connecting to an origin', async () => {
    // The worker has just started: it is still reading its nkey and connecting to MK.
    await worker?.stop();
    worker = undefined;
    // Nothing of it consumes any more: what MK shares now waits there.
    const seq = await share(
      disclose(p.sealer('MK').seal(eventsOf('crossing.irregular', 1, 'stop')[0]!), RS_FIELDS),
    );
    const info = await originJsm.consumers.info(shareStream('RS'), shareConsumer('RS'));
    expect(info.num_pending + info.num_ack_pending).toBeGreaterThan(0);
    expect(info.ack_floor.stream_seq).toBeLessThan(seq);
    expect(await messages(ownJsm, INBOX_STREAM)).toBe(0);
  });
});
