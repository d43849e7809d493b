import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { newUserNkey, renderAccessConfig, type NkeyIdentity } from '../../src/nats-access.js';
import {
  RECIPIENT_API_PREFIX,
  recipientInboxPrefix,
  shareStream,
  shareSubject,
} from '../../src/nats-layout.js';

const gatewayKey = newUserNkey();
const rs = newUserNkey();
const al = newUserNkey();
let server: NatsServer;
let gw: NatsConnection;
let jsm: JetStreamManager;

function as(who: NkeyIdentity, recipient: string, inboxPrefix = recipientInboxPrefix(recipient)) {
  return connect({
    servers: server.url,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(who.seed)),
    inboxPrefix,
    reconnect: false,
    timeout: 2_000,
  });
}

beforeAll(async () => {
  server = await startNatsServer({
    config: renderAccessConfig({
      gateway: gatewayKey.publicKey,
      recipients: [
        { id: 'RS', publicKey: rs.publicKey },
        { id: 'AL', publicKey: al.publicKey },
      ],
    }),
  });
  gw = await connect({
    servers: server.url,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(gatewayKey.seed)),
  });
  jsm = await jetstreamManager(gw);
  await jsm.streams.add({ name: 'WBX_EVENTS', subjects: ['wbx.evt.MK.>'] });
  for (const r of ['RS', 'AL']) {
    await jsm.streams.add({ name: shareStream(r), subjects: [`wbx.share.${r}.>`], allow_direct: true });
    await jsm.consumers.add(shareStream(r), { durable_name: r, ack_policy: AckPolicy.Explicit });
  }
  const js = jetstream(gw);
  await js.publish('wbx.evt.MK.crossing.irregular', 'secret-all-fields');
  await js.publish(shareSubject('RS', 'MK', 'crossing.irregular'), 'for-rs');
  await js.publish(shareSubject('AL', 'MK', 'crossing.irregular'), 'for-al');
});

afterAll(async () => {
  await gw.close();
  await server[Symbol.asyncDispose]();
});

describe('recipient access on the origin NATS (least privilege, nats-server 2.9.10)', () => {
  it('lets RS read and acknowledge its own share consumer', async () => {
    await using nc = await as(rs, 'RS');
    const consumer = await jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX }).consumers.get(
      shareStream('RS'),
      'RS',
    );
    const batch = await consumer.fetch({ max_messages: 1, expires: 2_000 });
    const got: string[] = [];
    for await (const m of batch) {
      got.push(m.string());
      await m.ackAck();
    }
    expect(got).toEqual(['for-rs']);
    expect((await jsm.consumers.info(shareStream('RS'), 'RS')).num_ack_pending).toBe(0);
  });

  it('refuses a connection without credentials, and one with an unknown nkey', async () => {
    await expect(connect({ servers: server.url, reconnect: false, timeout: 2_000 })).rejects.toThrow();
    await expect(as(newUserNkey(), 'RS')).rejects.toThrow();
  });

  it("does not let RS read AL's share consumer", async () => {
    await using nc = await as(rs, 'RS');
    await expect(jetstream(nc).consumers.get(shareStream('AL'), 'AL')).rejects.toThrow();
  });

  it('does not let RS read WBX_EVENTS or the audit log, or list streams', async () => {
    await using nc = await as(rs, 'RS');
    const rsm = await jetstreamManager(nc, { checkAPI: false });
    await expect(rsm.streams.info('WBX_EVENTS')).rejects.toThrow();
    await expect(rsm.streams.getMessage('WBX_EVENTS', { seq: 1 })).rejects.toThrow();
    await expect(rsm.streams.names().next()).rejects.toThrow();
  });

  it('does not let RS create a consumer, even on its own stream', async () => {
    await using nc = await as(rs, 'RS');
    const rsm = await jetstreamManager(nc, { checkAPI: false });
    await expect(
      rsm.consumers.add(shareStream('RS'), { durable_name: 'mine', ack_policy: AckPolicy.None }),
    ).rejects.toThrow();
    expect((await jsm.consumers.list(shareStream('RS')).next()).map((c) => c.name)).toEqual(['RS']);
  });

  it('does not let RS direct-get from its own share stream', async () => {
    await using nc = await as(rs, 'RS');
    const rsm = await jetstreamManager(nc, { checkAPI: false });
    await expect(rsm.direct.getMessage(shareStream('RS'), { seq: 1 })).rejects.toThrow();
  });

  it("does not let RS subscribe to another inbox prefix or to events' subjects", async () => {
    for (const subject of [`${recipientInboxPrefix('AL')}.>`, 'wbx.evt.>', '>']) {
      await using nc = await as(rs, 'RS');
      const sub = nc.subscribe(subject);
      const outcome = (async () => {
        for await (const _ of sub) return 'message';
        return 'closed';
      })();
      await expect(outcome).rejects.toThrow(/permission/i);
    }
  });

  it('does not let RS connect with an inbox prefix other than its own and still get replies', async () => {
    await using nc = await as(rs, 'RS', recipientInboxPrefix('AL'));
    await expect(jetstream(nc).consumers.get(shareStream('RS'), 'RS')).rejects.toThrow();
  });
});
