import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { verifyPresentation, type VerifiedEvent } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx } from '@wbx/cli';
import type { Gateway } from '@wbx/gateway';
import { certSha256, makeTestPki, startFederation, type Federation, type TestPki } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';
import { exchangeClients, match, type Clients } from '../support/exchange-client.js';
import { submitAll } from '../support/submit.js';

// Issue 16 (2): MK shares crossings with RS and AL over NATS, both granted the persons' subject
// references. Each receives references keyed for its own agreement, signed by MK into the presentation:
// each verifies them, none is MK's own, none is common to the two, and RS can Match on what it received.

const HOUR = 3_600_000;
const PURPOSE = 'border-management';

let pki: TestPki;
let fed: Federation;
let mk: Gateway;
let rs: Gateway;
let al: Gateway;
let rsAtMk: Clients;
let crossings: ValidEvent[];
/** Two persons who each cross three times; their federation-wide references. */
const subjects = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
/** Per recipient, what its inbox holds, verified as the recipient verifies it. */
const received = new Map<string, VerifiedEvent[]>();
const raw = new Map<string, string[]>();

async function inbox(g: Gateway): Promise<string[]> {
  const jsm = await jetstreamManager(g.nats);
  const info = await jsm.streams.info('WBX_INBOX');
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage('WBX_INBOX', { seq });
    if (m !== null) out.push(m.string());
  }
  return out;
}

/** Per event id, the subject references of its persons as `g` received them ('' for none). */
function refsByEvent(recipient: string): Map<string, string[]> {
  return new Map(
    (received.get(recipient) ?? []).map((v) => [
      v.eventId,
      (v.claims.persons as { subjectRef?: string }[]).map((p) => p.subjectRef ?? ''),
    ]),
  );
}

beforeAll(async () => {
  pki = await makeTestPki();
  const rsCert = await pki.issueClient('RS');
  fed = await startFederation(['MK', 'RS', 'AL'], { RS: [await certSha256(rsCert.cert)] });
  const agreement = (recipient: string, fields: string[]) => ({
    id: `MK-${recipient}-P`,
    provider: 'MK',
    recipient,
    purposes: [PURPOSE],
    legalBasis: 'Test agreement',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
    terms: [{ types: ['crossing.irregular'], mode: 'records', fields, retentionDays: 30 }],
  });
  await fed.agree(agreement('RS', ['occurredAt', 'persons.citizenship', 'persons.subjectRef']));
  await fed.agree(agreement('AL', ['occurredAt', 'routeSegment', 'persons']));
  mk = await fed.start('MK', {
    settings: {
      'exchange.listen': '127.0.0.1:0',
      'exchange.tls.cert': pki.server.cert,
      'exchange.tls.key': pki.server.key,
      'exchange.tls.clientCa': pki.caA,
    },
  });
  rs = await fed.start('RS', { receiveFrom: [mk] });
  al = await fed.start('AL', { receiveFrom: [mk] });
  const generated = [
    ...generateEvents({
      partner: 'MK',
      count: 80,
      seed: 'stream-pseudonyms',
      from: new Date('2023-09-01'),
      to: new Date('2023-09-08'),
    }),
  ];
  let marked = 0;
  const events = generated.map((e) => {
    const json = JSON.parse(JSON.stringify(e)) as {
      crossingIrregular?: { persons: { subjectRef?: string }[] };
    };
    const person = json.crossingIrregular?.persons[0];
    if (person !== undefined && marked < 6) person.subjectRef = subjects[marked++ % 2];
    const r = validateEvent(json);
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
  crossings = events.filter((e) => e.type === 'crossing.irregular');
  expect(marked).toBe(6);
  await submitAll(mk, events);
  for (const [name, g] of [
    ['RS', rs],
    ['AL', al],
  ] as const) {
    await until(`${name} has received every crossing`, async () =>
      (await (await jetstreamManager(g.nats)).streams.info('WBX_INBOX')).state.messages >= crossings.length
        ? true
        : undefined,
    );
    const tokens = await inbox(g);
    raw.set(name, tokens);
    // The recipient's own verification: MK's key from the manifest RS (or AL) trusts.
    received.set(
      name,
      tokens.map((t) => verifyPresentation(t, { manifest: g.manifest })),
    );
  }
  rsAtMk = await exchangeClients(pki, mk.exchangeAddress ?? '', rsCert);
}, 120_000);

afterAll(async () => {
  rsAtMk.close();
  await fed[Symbol.asyncDispose]();
  await pki[Symbol.asyncDispose]();
});

describe('subject references on streams', () => {
  it('gives RS and AL references keyed for their own agreement, verified, none of them MK’s or common', () => {
    const origin = crossings.flatMap((e) => e.crossingIrregular?.persons.map((p) => p.subjectRef) ?? []);
    const own = new Set(origin.filter((r) => r !== undefined));
    expect(own.size).toBeGreaterThan(subjects.length);
    const seen: Record<string, Set<string>> = {};
    for (const name of ['RS', 'AL']) {
      // MK's own references never reach the recipient, not even in the bytes it stores.
      for (const t of raw.get(name) ?? []) for (const ref of own) expect(t).not.toContain(ref);
      const refs = new Set<string>();
      for (const v of received.get(name) ?? []) {
        const persons = v.claims.persons as { subjectRef?: string }[];
        if (persons.some((p) => p.subjectRef !== undefined)) {
          expect(v.refAgreement).toBe(`MK-${name}-P`);
          expect(v.disclosed).toContain('persons.subjectRef');
        }
        for (const p of persons) if (p.subjectRef !== undefined) refs.add(p.subjectRef);
      }
      for (const r of refs) expect(own.has(r)).toBe(false);
      seen[name] = refs;
    }
    expect(seen.RS?.size).toBe(own.size);
    expect(seen.AL?.size).toBe(own.size);
    for (const r of seen.RS ?? []) expect(seen.AL?.has(r)).toBe(false);
  });

  it('gives each recipient one stable reference per person, wherever the person appears', () => {
    for (const name of ['RS', 'AL']) {
      const byEvent = refsByEvent(name);
      for (const subject of subjects) {
        const refs = crossings
          .filter((e) => e.crossingIrregular?.persons[0]?.subjectRef === subject)
          .map((e) => byEvent.get(e.eventId)?.[0]);
        expect(refs).toHaveLength(3);
        expect(new Set(refs).size).toBe(1);
        expect(refs[0]).toMatch(/^[0-9a-f]{64}$/);
      }
      // A person without a reference has none at the recipient either.
      for (const e of crossings) {
        const got = byEvent.get(e.eventId) ?? [];
        e.crossingIrregular?.persons.forEach((p, i) =>
          expect(got[i] === '').toBe(p.subjectRef === undefined),
        );
      }
    }
  });

  it('shows the keyed reference as subjectRef in wbx verify and wbx tail at the recipient', async () => {
    const tokens = raw.get('RS') ?? [];
    const manifest = fed.identity.manifestFile;
    const verified = await wbx(['verify', '--manifest', manifest], {
      stdin: `${tokens.join('\n')}\n`,
      now: new Date(),
    });
    expect(verified.code).toBe(0);
    const tailed = await wbx(
      [
        'tail',
        '--nats',
        rs.natsUrl,
        '--nkey',
        join(rs.accessDir ?? '', 'gateway.nkey'),
        '--stream',
        'WBX_INBOX',
        '--manifest',
        manifest,
        '--count',
        String(tokens.length),
      ],
      { now: new Date() },
    );
    expect(tailed.code).toBe(0);
    const byEvent = refsByEvent('RS');
    for (const out of [verified.stdout, tailed.stdout]) {
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { jti: string; persons: { subjectRef?: string }[] });
      expect(lines).toHaveLength(tokens.length);
      for (const l of lines) expect(l.persons.map((p) => p.subjectRef ?? '')).toEqual(byEvent.get(l.jti));
    }
  });

  it('lets RS Match what it received under its agreement, and not with AL’s references', async () => {
    const rsRefs = refsByEvent('RS');
    const alRefs = refsByEvent('AL');
    const about = crossings.filter((e) => e.crossingIrregular?.persons[0]?.subjectRef === subjects[0]);
    const mine = rsRefs.get(about[0]?.eventId ?? '')?.[0] ?? '';
    const theirs = alRefs.get(about[0]?.eventId ?? '')?.[0] ?? '';
    const res = await match(rsAtMk.exchange, {
      agreementId: 'MK-RS-P',
      purpose: PURPOSE,
      subjectRefs: [mine, theirs],
    });
    expect(res.hits.map((h) => h.subjectRef)).toEqual([mine]);
    expect(res.hits[0]?.events.map((e) => e.eventId).sort()).toEqual(about.map((e) => e.eventId).sort());
  });
});
