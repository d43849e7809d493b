// MK's gateway is stopped and started again on the same data directory: sharing resumes from the
// durable consumer wbx-share (its ack floor), so nothing is published to WBX_SHARE_RS or audited again,
// and the events ingested after the restart are shared.
import { jetstreamManager } from '@nats-io/jetstream';
import { decodeAuditEntry, readAudit } from '@wbx/audit';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { describe, expect, it } from 'vitest';

import type { Gateway } from '@wbx/gateway';
import { startFederation } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';
import { submitAll } from '../support/submit.js';

const TYPES = ['crossing.irregular', 'smuggling.incident'];

/** WBX_SHARE_RS's message count, wbx-share's cursor, and the event ids of MK's disclosure entries. */
async function observe(g: Gateway) {
  const jsm = await jetstreamManager(g.nats);
  const share = (await jsm.streams.info('WBX_SHARE_RS')).state.messages;
  const consumer = await jsm.consumers.info('WBX_EVENTS', 'wbx-share');
  const disclosed: string[] = [];
  for await (const m of readAudit(jsm, 'MK')) {
    const e = decodeAuditEntry(m.data);
    if (e.kind === 'disclosure') disclosed.push(...(e.eventIds ?? [e.eventId]));
  }
  return { share, consumer, disclosed };
}

/** Resolves once wbx-share has acknowledged every event in WBX_EVENTS. */
async function allShared(g: Gateway): Promise<void> {
  const jsm = await jetstreamManager(g.nats);
  await until('every event shared', async () => {
    const last = (await jsm.streams.info('WBX_EVENTS')).state.last_seq;
    const c = await jsm.consumers.info('WBX_EVENTS', 'wbx-share');
    return last > 0 && c.ack_floor.stream_seq === last && c.num_pending === 0 && c.num_ack_pending === 0;
  });
}

describe("a restart of MK's gateway", () => {
  it('shares nothing again (WBX_SHARE_RS and the audit unchanged) and shares the new events', async () => {
    await using fed = await startFederation(['MK', 'RS']);
    await fed.agree({
      id: 'MK-RS-restart',
      provider: 'MK',
      recipient: 'RS',
      purposes: ['border-management'],
      legalBasis: 'Test agreement',
      validFrom: new Date(Date.now() - 3_600_000).toISOString(),
      validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      terms: [{ types: TYPES, mode: 'records', fields: ['routeSegment'], retentionDays: 30 }],
    });
    const events = [
      ...generateEvents({
        partner: 'MK',
        count: 120,
        seed: 'share-restart',
        from: new Date('2023-09-01'),
        to: new Date('2023-09-15'),
      }),
    ].map((e) => {
      const r = validateEvent(JSON.parse(JSON.stringify(e)));
      if (!r.ok) throw new Error('invalid generated event');
      return r.event;
    });
    const granted = (list: readonly ValidEvent[]) =>
      list.filter((e) => TYPES.includes(e.type)).map((e) => e.eventId);
    const [before, after] = [events.slice(0, 80), events.slice(80)];
    expect(granted(before).length).toBeGreaterThan(0);
    expect(granted(after).length).toBeGreaterThan(0);

    const first = await fed.start('MK');
    await submitAll(first, before);
    await allShared(first);
    const shared = await observe(first);
    expect(shared.share).toBe(granted(before).length);
    expect(shared.disclosed.toSorted()).toEqual(granted(before).toSorted());
    await first.stop();

    const second = await fed.start('MK');
    const resumed = await observe(second);
    expect(resumed.consumer.ack_floor.stream_seq).toBe(shared.consumer.ack_floor.stream_seq);
    expect(resumed.consumer.delivered.consumer_seq).toBe(shared.consumer.delivered.consumer_seq);
    expect(resumed.share).toBe(shared.share);
    expect(resumed.disclosed).toEqual(shared.disclosed);

    await submitAll(second, after);
    await allShared(second);
    const end = await observe(second);
    expect(end.share).toBe(granted(events).length);
    expect(end.disclosed.toSorted()).toEqual(granted(events).toSorted());
    expect(end.consumer.num_redelivered).toBe(0);
  }, 90_000);
});
