/**
 * A hostile recipient on the origin's NATS. RS holds real credentials (the nkey MK's gateway generated for
 * it) and tries everything it can reach with them: reply-subject redirection against every stream and
 * bucket MK has, direct API calls, consumer creation, direct get, other recipients' consumers and inboxes,
 * and resource exhaustion. Afterwards MK's streams, buckets and audit chain are exactly as before, and
 * MK's gateway still shares and audits.
 *
 * Runs on every nats-server binary this machine has (`nats-server` on PATH, the ones the set-up unpacked
 * under `.cache/nats-servers/`, and any listed in WBX_EXTRA_NATS_SERVERS, colon-separated): the model must
 * hold on each.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { credentials } from '@grpc/grpc-js';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  connect,
  createInbox,
  nkeyAuthenticator,
  type Msg,
  type NatsConnection,
} from '@nats-io/transport-node';
import { readAudit, verifyAuditChain } from '@wbx/audit';
import { IngestClient, type Event } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  consumerSubjects,
  RECIPIENT_API_PREFIX,
  RECIPIENT_LIMITS,
  recipientInboxPrefix,
  recipientPermissions,
  shareStream,
} from '@wbx/gateway';
import type { Gateway } from '@wbx/gateway';
import { startFederation, type Federation } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';

/** Older servers the set-up unpacked for this suite (Debian 12's 2.9.10), beside the one on PATH. */
const CACHED = join(fileURLToPath(new URL('../../../..', import.meta.url)), '.cache', 'nats-servers');
const cached = existsSync(CACHED)
  ? readdirSync(CACHED)
      .map((v) => join(CACHED, v, 'usr', 'sbin', 'nats-server'))
      .filter((b) => existsSync(b))
  : [];
const binaries = [
  process.env.WBX_NATS_SERVER ?? 'nats-server',
  ...cached,
  ...(process.env.WBX_EXTRA_NATS_SERVERS ?? '').split(':').filter((b) => b !== '' && existsSync(b)),
];

const FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship'];
const SHARED = 30;

async function submit(gateway: Gateway, events: readonly Event[]): Promise<void> {
  const client = new IngestClient(gateway.grpcAddress, credentials.createInsecure());
  try {
    await Promise.all(
      events.map(
        (e) =>
          new Promise<void>((resolve, reject) => client.submit(e, (err) => (err ? reject(err) : resolve()))),
      ),
    );
  } finally {
    client.close();
  }
}

function crossings(seed: string, count: number): Event[] {
  return [
    ...generateEvents({
      partner: 'MK',
      count: count * 8,
      seed,
      from: new Date('2024-03-01'),
      to: new Date('2024-03-08'),
    }),
  ]
    .filter((e) => e.type === 'crossing.irregular')
    .slice(0, count);
}

/** Everything of MK's JetStream that an attack could change: every stream's state and consumers. */
async function snapshot(jsm: JetStreamManager): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const names: string[] = [];
  for await (const n of jsm.streams.names()) names.push(n);
  for (const name of names.sort()) {
    const info = await jsm.streams.info(name);
    const consumers: string[] = [];
    // Durable consumers only: the ephemeral ones that reading the audit chain makes come and go.
    for await (const c of jsm.consumers.list(name))
      if (c.config.durable_name !== undefined) consumers.push(c.name);
    const { messages, bytes, first_seq, last_seq, num_deleted } = info.state;
    out[name] = {
      messages,
      bytes,
      first_seq,
      last_seq,
      num_deleted,
      subjects: info.config.subjects,
      consumers: consumers.sort(),
    };
  }
  return out;
}

/** Subjects an answer could be redirected to, for every stream and bucket the origin has. */
function redirectTargets(streams: Readonly<Record<string, { subjects?: string[] }>>): string[] {
  const targets = ['$JS.API.STREAM.CREATE.EVIL', '$JS.API.ACCOUNT.PURGE.WBX', '$JS.API.META.LEADER.STEPDOWN'];
  for (const [name, s] of Object.entries(streams)) {
    targets.push(
      `$JS.API.STREAM.PURGE.${name}`,
      `$JS.API.STREAM.DELETE.${name}`,
      `$JS.API.STREAM.MSG.DELETE.${name}`,
      `$JS.API.STREAM.UPDATE.${name}`,
      `$JS.API.STREAM.MSG.GET.${name}`,
      `$JS.API.DIRECT.GET.${name}`,
      `$JS.API.CONSUMER.CREATE.${name}`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${name}.evil`,
    );
    for (const subject of s.subjects ?? [])
      targets.push(subject.replace(/>$/, 'evil').replace(/\*/g, 'evil'));
  }
  targets.push(
    `$JS.API.CONSUMER.DELETE.${shareStream('RS')}.RS`,
    `$JS.API.CONSUMER.DELETE.${shareStream('AL')}.AL`,
  );
  return targets;
}

describe.each(binaries)('a hostile recipient on the origin NATS (%s)', (binary) => {
  let fed: Federation;
  let mk: Gateway;
  let jsm: JetStreamManager;
  let rsSeed: string;
  let alSeed: string;
  let before: Record<string, unknown>;
  let auditBefore: Awaited<ReturnType<typeof verifyAuditChain>>;

  const as = (seed: string, who: string, inboxPrefix = recipientInboxPrefix(who)): Promise<NatsConnection> =>
    connect({
      servers: mk.natsUrl,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
      inboxPrefix,
      reconnect: false,
      timeout: 3_000,
    });

  const verifyAudit = async (): Promise<Awaited<ReturnType<typeof verifyAuditChain>>> =>
    verifyAuditChain(readAudit(jsm, 'MK'), mk.manifest, 'MK');

  const settled = async (): Promise<Record<string, unknown>> =>
    until('a quiet origin', async () => {
      const a = await snapshot(jsm);
      await sleep(300);
      const b = await snapshot(jsm);
      return JSON.stringify(a) === JSON.stringify(b) ? b : undefined;
    });

  beforeAll(async () => {
    fed = await startFederation(['MK', 'RS', 'AL']);
    const validFrom = new Date(Date.now() - 3_600_000).toISOString();
    const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
    for (const recipient of ['RS', 'AL']) {
      await fed.agree({
        id: `MK-${recipient}-hostile`,
        provider: 'MK',
        recipient,
        purposes: ['border-management'],
        legalBasis: 'Test agreement under the Skopje Declaration',
        validFrom,
        validUntil,
        terms: [{ types: ['crossing.irregular'], mode: 'records', fields: FIELDS, retentionDays: 30 }],
      });
    }
    mk = await fed.start('MK', {
      settings: { 'nats.binary': binary, 'audit.checkpointEntries': 5, 'audit.checkpointInterval': '200ms' },
    });
    jsm = await jetstreamManager(mk.nats);
    // The readmission bucket Exchange keeps (created here as Exchange would, with a case in it).
    const kv = await new Kvm(jetstream(mk.nats)).create('wbx_readmission', { history: 5 });
    await kv.put('case.MK-1', JSON.stringify({ state: 'requested' }));
    await submit(mk, crossings('hostile', SHARED));
    await until('shared to RS', async () =>
      (await jsm.streams.info(shareStream('RS'))).state.messages === SHARED ? true : undefined,
    );
    rsSeed = (await readFile(join(mk.accessDir ?? '', 'RS.nkey'), 'utf8')).trim();
    alSeed = (await readFile(join(mk.accessDir ?? '', 'AL.nkey'), 'utf8')).trim();
    before = await settled();
    auditBefore = await verifyAudit();
    expect(auditBefore.ok).toBe(true);
  }, 90_000);

  afterAll(async () => {
    await fed[Symbol.asyncDispose]();
  });

  it('serves RS its own consumer: a pull and an acknowledgement work across the account boundary', async () => {
    await using nc = await as(rsSeed, 'RS');
    const consumer = await jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX }).consumers.get(
      shareStream('RS'),
      'RS',
    );
    const batch = await consumer.fetch({ max_messages: 2, expires: 3_000 });
    const got: string[] = [];
    for await (const m of batch) {
      got.push(m.subject);
      m.nak();
    }
    expect(got).toHaveLength(2);
    expect(got.every((s) => s.startsWith('wbx.share.RS.MK.'))).toBe(true);
  });

  it('redirects no answer into the origin: replies to every stream and bucket land in RS’s own account', async () => {
    await using nc = await as(rsSeed, 'RS');
    const carriers = recipientPermissions('RS').publish.filter((s) => !s.includes('>'));
    // A real acknowledgement subject, from a message RS fetched (told to wait, not acknowledged).
    const inbox = createInbox(recipientInboxPrefix('RS'));
    const sub = nc.subscribe(inbox, { max: 1 });
    nc.publish(
      carriers.find((s) => s.includes('MSG.NEXT')) ?? '',
      JSON.stringify({ batch: 1, expires: 2e9 }),
      {
        reply: inbox,
      },
    );
    let ackSubject = '';
    for await (const m of sub) ackSubject = m.reply ?? '';
    expect(ackSubject).toMatch(/^\$JS\.ACK\.WBX_SHARE_RS\.RS\./);
    const targets = redirectTargets(before as Record<string, { subjects?: string[] }>);
    for (const target of targets) {
      for (const carrier of carriers) {
        const body = carrier.includes('MSG.NEXT') ? JSON.stringify({ batch: 1, no_wait: true }) : '';
        nc.publish(carrier, body, { reply: target });
      }
      nc.publish(ackSubject, '+WPI', { reply: target });
    }
    await nc.flush();
    expect(targets.length).toBeGreaterThan(60);
    await sleep(500);
    expect(await snapshot(jsm)).toEqual(before);
    expect(await verifyAudit()).toEqual(auditBefore);
  });

  it('refuses direct calls to the JetStream API, to streams’ subjects and to KV', async () => {
    const errors: string[] = [];
    await using nc = await as(rsSeed, 'RS');
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error));
    })();
    const subjects = [
      '$JS.API.STREAM.PURGE.WBX_AUDIT',
      '$JS.API.STREAM.DELETE.WBX_EVENTS',
      '$JS.API.STREAM.NAMES',
      `$JS.API.CONSUMER.CREATE.${shareStream('RS')}`,
      `$JS.API.DIRECT.GET.${shareStream('RS')}`,
      `${RECIPIENT_API_PREFIX}.STREAM.PURGE.WBX_AUDIT`,
      `${RECIPIENT_API_PREFIX}.CONSUMER.CREATE.${shareStream('RS')}`,
      `${RECIPIENT_API_PREFIX}.CONSUMER.INFO.${shareStream('AL')}.AL`,
      `${RECIPIENT_API_PREFIX}.CONSUMER.MSG.NEXT.${shareStream('AL')}.AL`,
      consumerSubjects('AL').ack.replace('>', '1.1.1.1.1.1'),
      'wbx.evt.MK.crossing.irregular',
      'wbx.audit.MK',
      '$KV.wbx_state.evil',
      '$KV.wbx_readmission.case.MK-1',
    ];
    for (const s of subjects) nc.publish(s, '{}');
    await nc.flush();
    await until('permission errors', () =>
      Promise.resolve(errors.length >= subjects.length ? true : undefined),
    );
    expect(errors.every((e) => /permission/i.test(e))).toBe(true);
    await expect(
      jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX }).consumers.get(shareStream('AL'), 'AL'),
    ).rejects.toThrow();
    const rsm = await jetstreamManager(nc, { checkAPI: false });
    await expect(rsm.streams.info('WBX_EVENTS')).rejects.toThrow();
    expect(await snapshot(jsm)).toEqual(before);
  });

  it('lets RS subscribe to nothing but its own inbox prefix', async () => {
    for (const subject of [
      '>',
      'wbx.>',
      '$JS.>',
      '$KV.>',
      '_INBOX.>',
      `${recipientInboxPrefix('AL')}.>`,
      '_R_.>',
    ]) {
      await using nc = await as(rsSeed, 'RS');
      const sub = nc.subscribe(subject);
      const outcome = (async () => {
        for await (const _ of sub) return 'message';
        return 'closed';
      })();
      await expect(outcome).rejects.toThrow(/permission/i);
    }
  });

  it("keeps each recipient in its own account: AL's credentials reach only AL's consumer", async () => {
    await using nc = await as(alSeed, 'AL');
    await expect(
      jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX }).consumers.get(shareStream('RS'), 'RS'),
    ).rejects.toThrow();
    const own = await jetstream(nc, { apiPrefix: RECIPIENT_API_PREFIX }).consumers.get(
      shareStream('AL'),
      'AL',
    );
    expect((await own.info()).name).toBe('AL');
  });

  it('refuses a connection without credentials and one with an unknown nkey', async () => {
    await expect(connect({ servers: mk.natsUrl, reconnect: false, timeout: 3_000 })).rejects.toThrow();
    const { createUser } = await import('@nats-io/nkeys');
    const stranger = new TextDecoder().decode(createUser().getSeed());
    await expect(as(stranger, 'RS')).rejects.toThrow();
  });

  it('bounds what RS can tie up: oversized and too many pulls are refused, and connections are capped', async () => {
    await using nc = await as(rsSeed, 'RS');
    const next = `${RECIPIENT_API_PREFIX}.CONSUMER.MSG.NEXT.${shareStream('RS')}.RS`;
    const status = async (body: unknown): Promise<string | undefined> => {
      const inbox = createInbox(recipientInboxPrefix('RS'));
      const sub = nc.subscribe(inbox, { max: 1, timeout: 5_000 });
      nc.publish(next, JSON.stringify(body), { reply: inbox });
      for await (const m of sub as AsyncIterable<Msg>) return m.headers?.description;
      return undefined;
    };
    expect(await status({ batch: 1_000_000, expires: 1e9 })).toMatch(/batch/i);
    expect(await status({ batch: 1, expires: 3_600e9 })).toMatch(/expires/i);
    // Many waiting pulls: the server keeps at most the consumer's max_waiting of them.
    const inbox = createInbox(recipientInboxPrefix('RS'));
    const sub = nc.subscribe(`${inbox}.*`);
    for (let i = 0; i < 200; i++)
      nc.publish(next, JSON.stringify({ batch: 1, expires: 20e9 }), { reply: `${inbox}.${i}` });
    await nc.flush();
    const info = await jsm.consumers.info(shareStream('RS'), 'RS');
    expect(info.num_waiting).toBeLessThanOrEqual(32);
    sub.unsubscribe();
    // Connections beyond the account's cap are refused.
    const open: NatsConnection[] = [];
    let refused = false;
    try {
      for (let i = 0; i < RECIPIENT_LIMITS.connections + 2 && !refused; i++) {
        try {
          open.push(await as(rsSeed, 'RS'));
        } catch {
          refused = true;
        }
      }
    } finally {
      for (const c of open) await c.close();
    }
    expect(refused).toBe(true);
    expect(open.length).toBeLessThanOrEqual(RECIPIENT_LIMITS.connections);
  });

  it('leaves the origin working: a new event is shared to RS and audited after all attacks', async () => {
    const auditBeforeMore = await verifyAudit();
    await submit(mk, crossings('after-attacks', 3));
    await until('the new events shared', async () =>
      (await jsm.streams.info(shareStream('RS'))).state.messages === SHARED + 3 ? true : undefined,
    );
    const after = await until('the new events audited', async () => {
      const v = await verifyAudit();
      return v.ok && auditBeforeMore.ok && v.disclosures > auditBeforeMore.disclosures ? v : undefined;
    });
    expect(after.ok).toBe(true);
  });
});
