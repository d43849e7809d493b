import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { revokeAgreement, type SignedAgreement } from '@wbx/agreements';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '@wbx/gateway';
import { wbx } from '@wbx/cli';
import { startFederation, type Federation } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';
import { submitAll } from '../support/submit.js';

const RS_FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship', 'persons.ageBand', 'migrantsCount'];
const RS_TYPES = ['crossing.irregular', 'smuggling.incident'];

let fed: Federation;
let mk: Gateway;
let rs: Gateway;
let al: Gateway;
/** ME receives reception.capacity records under MK-ME-1, which one test revokes. */
let me: Gateway;
let meAgreement: SignedAgreement;
let events: ValidEvent[];

async function tokens(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m !== null) out.push(m.string());
  }
  return out;
}

const count = async (g: Gateway, stream: string): Promise<number> =>
  (await (await jetstreamManager(g.nats)).streams.info(stream)).state.messages;

beforeAll(async () => {
  fed = await startFederation(['MK', 'RS', 'AL', 'XK', 'ME']);
  const validFrom = new Date(Date.now() - 3_600_000).toISOString();
  const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
  await fed.agree({
    id: 'MK-RS-1',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management', 'anti-smuggling'],
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom,
    validUntil,
    terms: [{ types: RS_TYPES, mode: 'records', fields: RS_FIELDS, retentionDays: 30 }],
  });
  await fed.agree({
    id: 'MK-AL-1',
    provider: 'MK',
    recipient: 'AL',
    purposes: ['risk-analysis'],
    legalBasis: 'Test agreement',
    validFrom,
    validUntil,
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'aggregate',
        dimensions: ['routeSegment', 'persons.citizenship'],
        period: 'week',
        minCell: 5,
        retentionDays: 30,
      },
    ],
  });
  // Three agreements with XK that must share nothing: one party's signature only, expired, and signed by
  // a non-party (AL) instead of XK.
  const xkTerms = [
    { types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 7 },
  ];
  const xk = {
    provider: 'MK',
    recipient: 'XK',
    purposes: ['border-management'],
    legalBasis: 'test',
    terms: xkTerms,
  };
  await fed.agree({ ...xk, id: 'MK-XK-one', validFrom, validUntil }, ['MK']);
  await fed.agree({
    ...xk,
    id: 'MK-XK-old',
    validFrom: '2024-01-01T00:00:00Z',
    validUntil: '2024-02-01T00:00:00Z',
  });
  await fed.agree({ ...xk, id: 'MK-XK-nonparty', validFrom, validUntil }, ['MK', 'AL']);
  meAgreement = await fed.agree({
    id: 'MK-ME-1',
    provider: 'MK',
    recipient: 'ME',
    purposes: ['border-management'],
    legalBasis: 'Test agreement',
    validFrom,
    validUntil,
    terms: [{ types: ['reception.capacity'], mode: 'records', fields: ['occurredAt'], retentionDays: 30 }],
  });
  mk = await fed.start('MK');
  rs = await fed.start('RS', { receiveFrom: [mk] });
  al = await fed.start('AL', { receiveFrom: [mk] });
  me = await fed.start('ME', { receiveFrom: [mk] });
  events = [
    ...generateEvents({
      partner: 'MK',
      count: 400,
      seed: 'e2e',
      from: new Date('2023-09-01'),
      to: new Date('2023-09-15'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
  await submitAll(mk, events);
}, 60_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
});

describe('sharing under bilateral agreements (three partners, three nats-servers)', () => {
  it("delivers to RS's inbox exactly the agreed events with exactly the agreed fields", async () => {
    const expected = events.filter((e) => RS_TYPES.includes(e.type));
    await until('RS inbox', async () =>
      (await count(rs, 'WBX_INBOX')) >= expected.length ? true : undefined,
    );
    const inbox = await tokens(await jetstreamManager(rs.nats), 'WBX_INBOX');
    expect(inbox).toHaveLength(expected.length);
    const byId = new Map(expected.map((e) => [e.eventId, e]));
    for (const token of inbox) {
      const { claims, disclosed, eventId } = readOwnSealedEvent(token);
      const event = byId.get(eventId);
      expect(event).toBeDefined();
      for (const p of disclosed) expect(RS_FIELDS.some((f) => f === p || f.startsWith(`${p}.`))).toBe(true);
      const { iss, jti, iat, wbx_type, wbx_v, ...body } = claims;
      expect(
        Object.keys(body).every((k) =>
          ['occurredAt', 'routeSegment', 'persons', 'migrantsCount'].includes(k),
        ),
      ).toBe(true);
      for (const p of (body.persons ?? []) as Record<string, unknown>[]) {
        expect(Object.keys(p).sort()).toEqual(['ageBand', 'citizenship']);
      }
      expect({ iss, jti, wbx_type, wbx_v, iatType: typeof iat }).toEqual({
        iss: 'MK',
        jti: event?.eventId,
        wbx_type: event?.type,
        wbx_v: 1,
        iatType: 'number',
      });
    }
  });

  it("never lets a withheld value into RS's streams (checked on the bytes)", async () => {
    const inbox = (await tokens(await jetstreamManager(rs.nats), 'WBX_INBOX')).join('\n');
    const decoded = inbox
      .split(/[~.\n]/)
      .map((p) => Buffer.from(p, 'base64url').toString('utf8'))
      .join('\n');
    const withheld = events.flatMap((e) => [
      ...(e.crossingIrregular?.persons.map((p) => p.subjectRef) ?? []),
      e.crossingIrregular?.borderSection,
      e.smugglingIncident?.caseRef,
      e.asylumApplication?.applicationRef,
      e.recordedAt,
    ]);
    for (const value of withheld) if (value !== undefined) expect(decoded).not.toContain(value);
  });

  it('sends AL only weekly aggregates, with cells below minCell suppressed', async () => {
    await until('AL aggregates', async () => ((await count(al, 'WBX_INBOX')) > 0 ? true : undefined));
    await sleep(500);
    const inbox = await tokens(await jetstreamManager(al.nats), 'WBX_INBOX');
    const crossings = events.filter((e) => e.type === 'crossing.irregular');
    let total = 0;
    for (const token of inbox) {
      const { claims } = readOwnSealedEvent(token);
      expect(claims.wbx_type).toBe('stats.aggregate');
      const cells = claims.cells as { values: string[]; count: number; suppressed: boolean }[];
      expect(claims.dimensions).toEqual(['routeSegment', 'persons.citizenship']);
      expect(String(claims.period)).toMatch(/^2023-W\d\d$/);
      for (const c of cells) {
        if (c.suppressed) expect(c.count).toBe(0);
        else expect(c.count).toBeGreaterThanOrEqual(5);
        total += c.count;
      }
    }
    const persons = crossings.reduce((n, e) => n + (e.crossingIrregular?.persons.length ?? 0), 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(persons);
    expect(
      inbox.some((t) =>
        (readOwnSealedEvent(t).claims.cells as { suppressed: boolean }[]).some((c) => c.suppressed),
      ),
    ).toBe(true);
  });

  it("lets MK's operator verify the audit chain with wbx audit verify, authenticated by the gateway's nkey", async () => {
    const r = await wbx(
      [
        'audit',
        'verify',
        '--nats',
        mk.natsUrl,
        '--manifest',
        fed.identity.manifestFile,
        '--partner',
        'MK',
        '--nkey',
        join(mk.accessDir ?? '', 'gateway.nkey'),
      ],
      { now: new Date() },
    );
    expect(r.stderr).not.toContain('UNREACHABLE');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK/);
    const anonymous = await wbx(
      ['audit', 'verify', '--nats', mk.natsUrl, '--manifest', fed.identity.manifestFile, '--partner', 'MK'],
      { now: new Date() },
    );
    expect(anonymous.code).toBe(1);
  });

  it("audits every disclosure in MK's WBX_AUDIT", async () => {
    const entries = (await tokens(await jetstreamManager(mk.nats), 'WBX_AUDIT')).map(
      (t) =>
        JSON.parse(t) as {
          kind: string;
          recipient?: string;
          mode?: string;
          eventId?: string;
          eventIds?: string[];
        },
    );
    // Records shared in the same turn share an entry that lists their ids; each is listed exactly once.
    const toRs = entries
      .filter((e) => e.kind === 'disclosure' && e.recipient === 'RS' && e.mode === 'records')
      .flatMap((e) => e.eventIds ?? [e.eventId]);
    expect(toRs.sort()).toEqual(
      events
        .filter((e) => RS_TYPES.includes(e.type))
        .map((e) => e.eventId)
        .sort(),
    );
    expect(entries.filter((e) => e.recipient === 'RS' && e.mode === 'records').length).toBeLessThan(
      toRs.length,
    );
    expect(entries.some((e) => e.kind === 'disclosure' && e.recipient === 'AL')).toBe(true);
  });

  it('shares nothing under an agreement signed by one party only, expired, or signed by a non-party', async () => {
    expect(mk.agreements.filter((a) => a.body.recipient === 'XK')).toEqual([]);
    const names: string[] = [];
    for await (const n of (await jetstreamManager(mk.nats)).streams.names()) names.push(n);
    expect(names).not.toContain('WBX_SHARE_XK');
    const audit = (await tokens(await jetstreamManager(mk.nats), 'WBX_AUDIT')).map(
      (t) => JSON.parse(t) as { recipient?: string },
    );
    expect(audit.some((e) => e.recipient === 'XK')).toBe(false);
  });

  it('quarantines a forged or tampered presentation placed in the share stream, never storing it', async () => {
    const mkm = await jetstreamManager(mk.nats);
    const genuine = (await tokens(mkm, 'WBX_SHARE_RS'))[0]!;
    const [h, p, sig] = genuine.split('~')[0]!.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    claims.jti = '01900000-0000-7000-8000-00000000f00d';
    const tampered = `${h!}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig!}~`;
    const { generateKeyPairSync, sign } = await import('node:crypto');
    const forger = generateKeyPairSync('ed25519').privateKey;
    const input = `${h!}.${Buffer.from(JSON.stringify({ ...claims, jti: '01900000-0000-7000-8000-00000000beef' })).toString('base64url')}`;
    const forged = `${input}.${sign(null, Buffer.from(input), forger).toString('base64url')}~`;
    const quarantined = await count(rs, 'WBX_QUARANTINE');
    const inbox = await count(rs, 'WBX_INBOX');
    const js = (await import('@nats-io/jetstream')).jetstream(mk.nats);
    await js.publish('wbx.share.RS.MK.crossing.irregular', tampered);
    await js.publish('wbx.share.RS.MK.crossing.irregular', forged);
    await until('quarantine', async () =>
      (await count(rs, 'WBX_QUARANTINE')) >= quarantined + 2 ? true : undefined,
    );
    expect(await count(rs, 'WBX_INBOX')).toBe(inbox);
    const rsm = await jetstreamManager(rs.nats);
    const last = await rsm.streams.getMessage('WBX_QUARANTINE', { last_by_subj: 'wbx.quarantine.MK' });
    expect(last?.header.get('Wbx-Error-Code')).toBe('BAD_SIGNATURE');
  });

  it('stops delivery within 2 s of a revocation and purges the share stream', async () => {
    // ME's agreement is this test's alone: revoking it leaves the others' agreements in force.
    const capacity = events.filter((e) => e.type === 'reception.capacity');
    expect(capacity.length).toBeGreaterThan(0);
    const received = async () => ((await count(me, 'WBX_INBOX')) === capacity.length ? true : undefined);
    await until('ME inbox', received);

    const k = fed.key('MK');
    const revoked = await revokeAgreement(meAgreement, k.key, k.kid, { at: new Date() });
    await fed.put(revoked, 'MK', 'ME', 'MK-ME-1');
    const started = Date.now();
    const purged = async () => ((await count(mk, 'WBX_SHARE_ME')) === 0 ? true : undefined);
    await until('purge', purged, 2_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    const october = { from: new Date('2023-10-01'), to: new Date('2023-10-02') };
    const more = [...generateEvents({ partner: 'MK', count: 100, seed: 'after', ...october })]
      .map((e) => validateEvent(JSON.parse(JSON.stringify(e))))
      .flatMap((r) => (r.ok && r.event.type === 'reception.capacity' ? [r.event] : []));
    expect(more.length).toBeGreaterThan(0);
    await submitAll(mk, more);
    await sleep(1_500);
    expect(await count(me, 'WBX_INBOX')).toBe(capacity.length);
    expect(await count(mk, 'WBX_SHARE_ME')).toBe(0);
  });
});
