import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { EmbeddedNats } from '../../src/embedded-nats.js';
import { newUserNkey, renderAccessConfig, type NkeyIdentity } from '../../src/nats-access.js';
import { RECIPIENT_API_PREFIX, recipientInboxPrefix, shareStream } from '../../src/nats-layout.js';

describe('EmbeddedNats with recipients that come and go', () => {
  it('serves a recipient whose account was added while the server ran, and keeps serving the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-reload-'));
    const gatewayKey = newUserNkey();
    const rs = newUserNkey();
    const al = newUserNkey();
    const access = (recipients: { id: string; publicKey: string }[]): string =>
      renderAccessConfig({ gateway: gatewayKey.publicKey, recipients });
    const server = new EmbeddedNats({
      dataDir: dir,
      binary: process.env.WBX_NATS_SERVER ?? 'nats-server',
      log: pino({ level: 'silent' }),
      extraConfig: access([{ id: 'RS', publicKey: rs.publicKey }]),
    });
    const url = await server.start();
    const as = (who: NkeyIdentity, id: string): Promise<NatsConnection> =>
      connect({
        servers: url,
        authenticator: nkeyAuthenticator(new TextEncoder().encode(who.seed)),
        inboxPrefix: recipientInboxPrefix(id),
        reconnect: false,
        timeout: 2_000,
      });
    /** The name of the recipient's consumer, once its credentials reach it (a restart may be under way). */
    const reached = async (who: NkeyIdentity, id: string): Promise<string> => {
      for (let i = 0; ; i++) {
        try {
          await using nc = await as(who, id);
          const js = jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX });
          return (await (await js.consumers.get(shareStream(id), id)).info()).name;
        } catch (e) {
          if (i > 50) throw e;
          await sleep(100);
        }
      }
    };
    try {
      {
        await using gw = await as(gatewayKey, 'GW');
        const jsm = await jetstreamManager(gw);
        for (const r of ['RS', 'AL']) {
          await jsm.streams.add({ name: shareStream(r), subjects: [`wbx.share.${r}.>`] });
          await jsm.consumers.add(shareStream(r), { durable_name: r, ack_policy: AckPolicy.Explicit });
        }
      }
      expect(await reached(rs, 'RS')).toBe('RS');
      await server.reload(
        access([
          { id: 'RS', publicKey: rs.publicKey },
          { id: 'AL', publicKey: al.publicKey },
        ]),
      );
      expect(await reached(al, 'AL')).toBe('AL');
      expect(await reached(rs, 'RS')).toBe('RS');
      expect(server.url).toBe(url);
      // RS leaves: its credentials stop working, AL's keep working.
      await server.reload(access([{ id: 'AL', publicKey: al.publicKey }]));
      await expect(as(rs, 'RS')).rejects.toThrow();
      expect(await reached(al, 'AL')).toBe('AL');
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes a recipient whose account was declared in standby by a reload alone, without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-reload-'));
    const gatewayKey = newUserNkey();
    const rs = newUserNkey();
    const al = newUserNkey();
    const access = (recipients: { id: string; publicKey: string }[]): string =>
      renderAccessConfig({ gateway: gatewayKey.publicKey, recipients, standby: ['RS', 'AL'] });
    const server = new EmbeddedNats({
      dataDir: dir,
      binary: process.env.WBX_NATS_SERVER ?? 'nats-server',
      log: pino({ level: 'silent' }),
      extraConfig: access([{ id: 'RS', publicKey: rs.publicKey }]),
    });
    const url = await server.start();
    const as = (who: NkeyIdentity, id: string): Promise<NatsConnection> =>
      connect({
        servers: url,
        authenticator: nkeyAuthenticator(new TextEncoder().encode(who.seed)),
        inboxPrefix: recipientInboxPrefix(id),
        reconnect: false,
        timeout: 2_000,
      });
    try {
      // A connection that does not reconnect: it survives only if the server is not restarted.
      const gw = await as(gatewayKey, 'GW');
      const jsm = await jetstreamManager(gw);
      await jsm.streams.add({ name: shareStream('AL'), subjects: ['wbx.share.AL.>'] });
      await jsm.consumers.add(shareStream('AL'), { durable_name: 'AL', ack_policy: AckPolicy.Explicit });
      await expect(as(al, 'AL')).rejects.toThrow();
      await server.reload(
        access([
          { id: 'RS', publicKey: rs.publicKey },
          { id: 'AL', publicKey: al.publicKey },
        ]),
      );
      let name: string | undefined;
      for (let i = 0; name === undefined; i++) {
        try {
          await using nc = await as(al, 'AL');
          const js = jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX });
          name = (await (await js.consumers.get(shareStream('AL'), 'AL')).info()).name;
        } catch (e) {
          if (i > 50) throw e;
          await sleep(100);
        }
      }
      expect(name).toBe('AL');
      expect(gw.isClosed()).toBe(false);
      await gw.close();
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
