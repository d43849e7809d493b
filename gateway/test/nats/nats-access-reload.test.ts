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

const gatewayKey = newUserNkey();
const rs = newUserNkey();
const al = newUserNkey();
const RS = { id: 'RS', publicKey: rs.publicKey };
const AL = { id: 'AL', publicKey: al.publicKey };

/** An embedded nats-server with RS as recipient, share consumers for RS and AL, and ways to reach them. */
async function bed(standby?: readonly string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'wbx-reload-'));
  const access = (recipients: { id: string; publicKey: string }[]): string =>
    renderAccessConfig({
      gateway: gatewayKey.publicKey,
      recipients,
      ...(standby === undefined ? {} : { standby }),
    });
  const server = new EmbeddedNats({
    dataDir: dir,
    binary: process.env.WBX_NATS_SERVER ?? 'nats-server',
    log: pino({ level: 'silent' }),
    extraConfig: access([RS]),
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
  // The gateway's own connection does not reconnect: it stays open only if the server is not restarted.
  const gw = await as(gatewayKey, 'GW');
  const jsm = await jetstreamManager(gw);
  for (const r of ['RS', 'AL']) {
    await jsm.streams.add({ name: shareStream(r), subjects: [`wbx.share.${r}.>`] });
    await jsm.consumers.add(shareStream(r), { durable_name: r, ack_policy: AckPolicy.Explicit });
  }
  return {
    server,
    url,
    gw,
    as,
    reached,
    reload: (recipients: { id: string; publicKey: string }[]) => server.reload(access(recipients)),
    async [Symbol.asyncDispose]() {
      await gw.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('EmbeddedNats with recipients that come and go', () => {
  it('serves a recipient whose account was added while the server ran, and keeps serving the others', async () => {
    await using b = await bed();
    expect(await b.reached(rs, 'RS')).toBe('RS');
    await b.reload([RS, AL]);
    expect(await b.reached(al, 'AL')).toBe('AL');
    expect(await b.reached(rs, 'RS')).toBe('RS');
    expect(b.server.url).toBe(b.url);
    // RS leaves: its credentials stop working, AL's keep working.
    await b.reload([AL]);
    await expect(b.as(rs, 'RS')).rejects.toThrow();
    expect(await b.reached(al, 'AL')).toBe('AL');
  });

  it('takes a recipient whose account was declared in standby by a reload alone, without a restart', async () => {
    await using b = await bed(['RS', 'AL']);
    await expect(b.as(al, 'AL')).rejects.toThrow();
    await b.reload([RS, AL]);
    expect(await b.reached(al, 'AL')).toBe('AL');
    expect(b.gw.isClosed()).toBe(false);
  });
});
