// A compromised origin NATS (here: the origin gateway's own connection, with its credentials) publishes
// hand-crafted presentations — genuinely sealed with the origin's key — straight into WBX_SHARE_RS. The
// recipient must keep only what an agreement it holds allows, and never store one event twice.
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstream, jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer, disclose, type Sealer } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '@wbx/gateway';
import { startFederation, type Federation } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';

const RS_FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship'];
/** What a presentation within the agreement discloses (the person container comes with its attribute). */
const AGREED = ['occurredAt', 'routeSegment', 'persons.citizenship'];
const QUARANTINE_MAX_MSGS = 5;

let fed: Federation;
let mk: Gateway;
let rs: Gateway;
let sealer: Sealer;
let mkm: JetStreamManager;
let rsm: JetStreamManager;
const pool = new Map<string, ValidEvent[]>();

/** A fresh valid MK event of `type` (each used once: its own event id). */
function take(type: string): ValidEvent {
  const e = pool.get(type)?.pop();
  if (e === undefined) throw new Error(`no ${type} event left`);
  return e;
}

/** Publishes into MK's WBX_SHARE_RS as a compromised origin NATS could (no Nats-Msg-Id); its sequence. */
async function inject(type: string, token: string): Promise<number> {
  return (await jetstream(mk.nats).publish(`wbx.share.RS.MK.${type}`, token)).seq;
}

async function messages(jsm: JetStreamManager, stream: string): Promise<StoredMsg[]> {
  const { state } = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m !== null) out.push(m);
  }
  return out;
}

/**
 * Waits until RS acknowledged MK's message `seq` (stored, quarantined or dropped), then says what became
 * of it: the quarantine's code for it, and how many copies of event `eventId` RS's inbox holds.
 */
async function outcome(seq: number, eventId: string): Promise<{ code: string | undefined; stored: number }> {
  await until(`RS to acknowledge ${seq}`, async () => {
    const info = await mkm.consumers.info('WBX_SHARE_RS', 'RS');
    return info.ack_floor.stream_seq >= seq ? true : undefined;
  });
  const quarantined = (await messages(rsm, 'WBX_QUARANTINE')).find(
    (m) => m.header.get('Wbx-Origin-Seq') === String(seq),
  );
  const code = quarantined?.header.get('Wbx-Error-Code');
  const stored = (await messages(rsm, 'WBX_INBOX')).filter(
    (m) => m.header.get('Nats-Msg-Id') === `MK.${eventId}`,
  );
  return { code: code === '' ? undefined : code, stored: stored.length };
}

beforeAll(async () => {
  fed = await startFederation(['MK', 'RS']);
  await fed.agree({
    id: 'MK-RS-1',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'Test agreement under the Skopje Declaration',
    // Ten minutes ago (the keys are valid from an hour ago): room for a token issued before it.
    validFrom: new Date(Date.now() - 600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: [{ types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 }],
  });
  mk = await fed.start('MK');
  rs = await fed.start('RS', {
    receiveFrom: [mk],
    settings: {
      'streams.duplicateWindow': 1_000,
      'quarantine.maxMsgs': QUARANTINE_MAX_MSGS,
      'inbox.checkEvery': 200,
    },
  });
  mkm = await jetstreamManager(mk.nats);
  rsm = await jetstreamManager(rs.nats);
  const k = fed.key('MK');
  sealer = createSealer({ issuer: 'MK', kid: k.kid, privateKey: k.key });
  const generated = generateEvents({
    partner: 'MK',
    count: 400,
    seed: 'receive-agreements',
    from: new Date('2023-09-01'),
    to: new Date('2023-09-15'),
  });
  for (const e of generated) {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    pool.set(r.event.type, [...(pool.get(r.event.type) ?? []), r.event]);
  }
}, 60_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
});

describe('receiving within the agreements held (hand-crafted presentations in WBX_SHARE_RS)', () => {
  it('quarantines a genuinely sealed event of a type no agreement covers (NOT_AGREED_TYPE)', async () => {
    const e = take('asylum.application');
    const seq = await inject(e.type, sealer.seal(e));
    expect(await outcome(seq, e.eventId)).toEqual({ code: 'NOT_AGREED_TYPE', stored: 0 });
  });

  it('quarantines a presentation that discloses a field beyond the term (FIELDS_BEYOND_AGREEMENT)', async () => {
    const e = take('crossing.irregular');
    const seq = await inject(e.type, disclose(sealer.seal(e), [...AGREED, 'persons.subjectRef']));
    expect(await outcome(seq, e.eventId)).toEqual({ code: 'FIELDS_BEYOND_AGREEMENT', stored: 0 });
  });

  it('quarantines a presentation issued before the agreement was in force (NO_AGREEMENT_AT_IAT)', async () => {
    const e = take('crossing.irregular');
    const token = sealer.seal(e, { now: new Date(Date.now() - 1_800_000) });
    const seq = await inject(e.type, disclose(token, AGREED));
    expect(await outcome(seq, e.eventId)).toEqual({ code: 'NO_AGREEMENT_AT_IAT', stored: 0 });
  });

  it('stores a presentation within the agreement, once', async () => {
    const e = take('crossing.irregular');
    const seq = await inject(e.type, disclose(sealer.seal(e), AGREED));
    expect(await outcome(seq, e.eventId)).toEqual({ code: undefined, stored: 1 });
  });

  it("drops a replay of a stored event after the inbox's duplicate window, never storing it twice", async () => {
    const inbox = await rsm.streams.info('WBX_INBOX');
    expect(inbox.config.duplicate_window).toBe(1_000_000_000);
    const e = take('crossing.irregular');
    const presentation = disclose(sealer.seal(e), AGREED);
    expect(await outcome(await inject(e.type, presentation), e.eventId)).toEqual({
      code: undefined,
      stored: 1,
    });
    await sleep(1_500); // past the inbox's 1 s duplicate window
    expect(await outcome(await inject(e.type, presentation), e.eventId)).toEqual({
      code: undefined,
      stored: 1,
    });
    const metrics = await (await fetch(`http://${rs.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/^wbx_receive_replays_total\{origin="MK"\} 1$/m);
  });

  it('holds presentations at the origin while its agreements cannot be read, and stores them after', async () => {
    const dir = fed.agreementsDir('RS');
    await rename(dir, `${dir}.away`);
    try {
      await until('RS to notice', async () => {
        const res = await fetch(`http://${rs.httpAddress}/readyz`);
        return res.status === 503 ? true : undefined;
      });
      const e = take('crossing.irregular');
      const seq = await inject(e.type, disclose(sealer.seal(e), AGREED));
      // Delivered more often than an agreement refusal is retried, and still neither stored nor quarantined.
      await until('several deliveries', async () => {
        const info = await mkm.consumers.info('WBX_SHARE_RS', 'RS');
        return info.num_redelivered > 0 && info.ack_floor.stream_seq < seq ? true : undefined;
      });
      await sleep(6_000);
      expect((await mkm.consumers.info('WBX_SHARE_RS', 'RS')).ack_floor.stream_seq).toBeLessThan(seq);
      await rename(`${dir}.away`, dir);
      expect(await outcome(seq, e.eventId)).toEqual({ code: undefined, stored: 1 });
    } finally {
      if (existsSync(`${dir}.away`)) await rename(`${dir}.away`, dir);
    }
  }, 40_000);

  it('bounds WBX_QUARANTINE by its limit and reports its fill ratio', async () => {
    const seqs = await Promise.all(
      Array.from({ length: QUARANTINE_MAX_MSGS }, async () => {
        const e = take('asylum.application');
        return { seq: await inject(e.type, sealer.seal(e)), id: e.eventId };
      }),
    );
    for (const { seq, id } of seqs) expect((await outcome(seq, id)).stored).toBe(0);
    const info = await rsm.streams.info('WBX_QUARANTINE');
    expect(info.state.messages).toBe(QUARANTINE_MAX_MSGS);
    await until('the fill gauge', async () => {
      const metrics = await (await fetch(`http://${rs.httpAddress}/metrics`)).text();
      return /^wbx_stream_fill_ratio\{stream="WBX_QUARANTINE",limit="messages"\} 1$/m.test(metrics)
        ? true
        : undefined;
    });
  });
});
