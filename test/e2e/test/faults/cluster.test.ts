// MK's gateway (in-process) on a three-node JetStream cluster: started once with `streams.replicas: 1`,
// then again with 3, every WBX stream and bucket (and the durable consumers) has three replicas; MK shares
// records with RS while the cluster node the gateway is connected to is killed -9, and afterwards
// WBX_EVENTS and WBX_SHARE_RS hold every event exactly once.

import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Event } from '@wbx/proto';
import { validateEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '@wbx/gateway';
import { startFederation, type Federation } from '@wbx/fixtures';
import { startNatsCluster, until, type NatsCluster } from '@wbx/test-helpers';
import { submitRetrying } from '../support/submit.js';

const TYPES = ['crossing.irregular', 'smuggling.incident'];
const FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship'];
const BATCH = 200;

let cluster: NatsCluster;
let fed: Federation;
let events: Event[];

/** Unary Submit of each event; a failed call is retried with the same eventId until `deadline` (epoch ms). */

/** The Nats-Msg-Id (the eventId) of every message in the stream, in order. */
async function msgIds(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m !== null) out.push(m.header.get('Nats-Msg-Id'));
  }
  return out;
}

async function startMk(replicas: number): Promise<Gateway> {
  return fed.start('MK', {
    settings: {
      'nats.url': cluster.urls.join(','),
      'nats.publishTimeout': 5_000,
      'streams.replicas': replicas,
    },
  });
}

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  fed = await startFederation(['MK', 'RS']);
  await fed.agree({
    id: 'MK-RS-cluster',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: [{ types: TYPES, mode: 'records', fields: FIELDS, retentionDays: 30 }],
  });
  events = [];
  const generated = generateEvents({
    partner: 'MK',
    count: 20 * BATCH,
    seed: 'cluster',
    from: new Date('2024-01-01T00:00:00Z'),
    to: new Date('2024-03-01T00:00:00Z'),
  });
  for (const e of generated) {
    if (!TYPES.includes(e.type)) continue;
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    events.push(Event.fromJSON(e));
    if (events.length === 3 * BATCH) break;
  }
  if (events.length !== 3 * BATCH) throw new Error(`only ${events.length} events of the agreed types`);
}, 120_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
  await cluster[Symbol.asyncDispose]();
});

describe('an MK gateway on a three-node JetStream cluster', () => {
  let mk: Gateway;

  it('brings every stream, bucket and durable consumer made with one replica to streams.replicas', async () => {
    // First run with one replica: every stream and bucket is created R1 (and one batch is shared).
    const first = await startMk(1);
    await submitRetrying(first.grpcAddress, events.slice(0, BATCH), 16, Date.now() + 30_000);
    const jsm1 = await jetstreamManager(first.nats);
    await until('the first batch shared', async () => {
      const info = await jsm1.streams.info('WBX_SHARE_RS').catch(() => undefined);
      return info?.state.messages === BATCH;
    });
    const before = await jsm1.streams.list().next();
    const r1 = before.filter((s) => s.config.name.startsWith('WBX_') || s.config.name.startsWith('KV_wbx'));
    expect(r1.map((s) => s.config.num_replicas)).toEqual(r1.map(() => 1));
    await first.stop();

    mk = await startMk(3);
    const jsm = await jetstreamManager(mk.nats);
    const names = new Set<string>();
    for await (const name of jsm.streams.names()) names.add(name);
    for (const want of [
      'WBX_EVENTS',
      'WBX_SHARE_RS',
      'WBX_INBOX',
      'WBX_QUARANTINE',
      'WBX_AUDIT',
      'KV_wbx_state',
      'KV_wbx_inbox_seen',
    ]) {
      expect(names).toContain(want);
    }
    const ours = [...names].filter((n) => n.startsWith('WBX_') || n.startsWith('KV_wbx'));
    for (const name of ours) {
      const info = await until(`${name} with all three replicas`, async () => {
        const i = await jsm.streams.info(name);
        return i.cluster?.replicas?.length === 2 ? i : undefined;
      });
      expect({ name, replicas: info.config.num_replicas }).toEqual({ name, replicas: 3 });
      expect(info.cluster?.replicas).toHaveLength(2);
    }
    for (const [stream, consumer] of [
      ['WBX_EVENTS', 'wbx-share'],
      ['WBX_SHARE_RS', 'RS'],
    ] as const) {
      const info = await until(`${stream} > ${consumer} with three replicas`, async () => {
        const i = await jsm.consumers.info(stream, consumer);
        return i.cluster?.replicas?.length === 2 ? i : undefined;
      });
      expect(info.cluster?.replicas).toHaveLength(2);
    }
  }, 120_000);

  it('stores and shares every event exactly once through a kill -9 of the node it is connected to', async () => {
    await submitRetrying(mk.grpcAddress, events.slice(BATCH, 2 * BATCH), 16, Date.now() + 30_000);
    const connectedTo = mk.nats.info?.server_name;
    const victim = cluster.servers.findIndex((_, i) => `n${i}` === connectedTo);
    expect(victim).toBeGreaterThanOrEqual(0);
    await cluster.kill(victim);
    await submitRetrying(mk.grpcAddress, events.slice(2 * BATCH), 16, Date.now() + 90_000);
    // Right after the kill the cluster elects new leaders: requests may time out until it has.
    const jsm = await jetstreamManager(mk.nats, { checkAPI: false });
    await until(
      'every event shared to RS',
      async () => {
        const info = await jsm.streams.info('WBX_SHARE_RS').catch(() => undefined);
        return info !== undefined && info.state.messages >= events.length;
      },
      90_000,
    );
    const ids = events.map((e) => e.eventId).sort();
    const settled = (stream: string): Promise<string[]> =>
      until(`the ids in ${stream}`, () => msgIds(jsm, stream).catch(() => undefined), 30_000);
    const stored = await settled('WBX_EVENTS');
    expect(stored.toSorted()).toEqual(ids);
    const shared = await settled('WBX_SHARE_RS');
    expect(shared.toSorted()).toEqual(ids);
    await cluster.restart(victim);
  }, 180_000);
});
