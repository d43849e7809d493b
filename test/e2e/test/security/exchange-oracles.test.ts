import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { decodeAuditEntry, readAudit } from '@wbx/audit';
import { Event, IngestClient, type QueryEvent, type QueryEnd } from '@wbx/proto';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pseudonyms, subjectRefsOf } from '@wbx/gateway';
import { QUERY_PAGE_MAX } from '@wbx/gateway';
import type { Gateway } from '@wbx/gateway';
import { statusDetails } from '@wbx/gateway';
import { certSha256, makeTestPki, type TestPki } from '@wbx/fixtures';
import { exchangeClients, match, query, type Clients } from '../support/exchange-client.js';
import { startFederation, type Federation } from '@wbx/fixtures';

/**
 * A hostile recipient (RS, with its own pinned certificate) asks MK's Exchange questions whose answers
 * would depend on what its agreements withhold: time bounds on a withheld occurredAt, resume tokens that
 * carried WBX_EVENTS sequences, the end of a page, conditions on person fields, Match on references of
 * events the agreement does not cover. Each must be refused or answered from disclosed data only.
 */

const HOUR = 3_600_000;
const records = { mode: 'records', retentionDays: 30 } as const;

let pki: TestPki;
let fed: Federation;
let mk: Gateway;
let rs: Clients;
/** MK's events in WBX_EVENTS (the held-back ones only once the test that adds them ran). */
let crossings: ValidEvent[];
let others: ValidEvent[];
/** Events of types no agreement with RS covers, ingested only in the middle of the suite. */
let heldBack: ValidEvent[];

async function submit(list: readonly ValidEvent[]): Promise<void> {
  const client = new IngestClient(mk.grpcAddress, credentials.createInsecure());
  try {
    await Promise.all(
      list.map(
        (e) =>
          new Promise<void>((resolve, reject) =>
            client.submit(Event.fromJSON(e), (err) => (err ? reject(err) : resolve())),
          ),
      ),
    );
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
  const certs = { MK: await pki.issueClient('MK'), RS: await pki.issueClient('RS') };
  fed = await startFederation(['MK', 'RS'], {
    MK: [await certSha256(certs.MK.cert)],
    RS: [await certSha256(certs.RS.cert)],
  });
  const base = {
    provider: 'MK',
    recipient: 'RS',
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
  };
  // occurredAt withheld.
  await fed.agree({
    ...base,
    id: 'MK-RS-NT',
    purposes: ['risk-analysis'],
    terms: [
      {
        ...records,
        types: ['crossing.irregular'],
        fields: ['routeSegment', 'direction', 'persons.citizenship', 'persons.subjectRef'],
      },
    ],
  });
  // occurredAt (and references) only for entries; exits get their direction alone.
  await fed.agree({
    ...base,
    id: 'MK-RS-MIX',
    purposes: ['anti-smuggling'],
    terms: [
      {
        ...records,
        types: ['crossing.irregular'],
        where: { direction: ['entry'] },
        fields: ['occurredAt', 'direction', 'persons.subjectRef'],
      },
      { ...records, types: ['crossing.irregular'], fields: ['direction'] },
    ],
  });
  // occurredAt disclosed for one type, withheld for the other.
  await fed.agree({
    ...base,
    id: 'MK-RS-2T',
    purposes: ['risk-analysis'],
    terms: [
      { ...records, types: ['crossing.irregular'], fields: ['occurredAt', 'routeSegment'] },
      { ...records, types: ['smuggling.incident'], fields: ['routeSegment'] },
    ],
  });
  // Everything a time bound needs.
  await fed.agree({
    ...base,
    id: 'MK-RS-T',
    purposes: ['border-management'],
    terms: [
      {
        ...records,
        types: ['crossing.irregular'],
        fields: ['occurredAt', 'routeSegment', 'persons.subjectRef'],
      },
    ],
  });
  mk = await fed.start('MK', {
    settings: {
      'exchange.listen': '127.0.0.1:0',
      'exchange.tls.cert': pki.server.cert,
      'exchange.tls.key': pki.server.key,
      'exchange.tls.clientCa': pki.caA,
      'exchange.matchRate': 100,
      'exchange.matchBurst': 100,
    },
  });
  const events = [
    ...generateEvents({
      partner: 'MK',
      count: 400,
      seed: 'oracles',
      from: new Date('2023-09-01'),
      to: new Date('2023-09-08'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
  crossings = events.filter((e) => e.type === 'crossing.irregular');
  const rest = events.filter((e) => e.type !== 'crossing.irregular');
  heldBack = rest.filter((e) => e.type === 'asylum.application' || e.type === 'return.decision');
  others = rest.filter((e) => !heldBack.includes(e));
  // Crossings last: at first, nothing follows the last event RS may see.
  await submit(others);
  await submit(crossings);
  rs = await exchangeClients(pki, mk.exchangeAddress ?? '', certs.RS);
}, 90_000);

afterAll(async () => {
  rs.close();
  await fed[Symbol.asyncDispose]();
  await pki[Symbol.asyncDispose]();
});

interface Refused {
  readonly code: number;
  readonly reason: string | undefined;
  readonly fields: string[];
}

/** How a call ended: refused (status, reason, fields named), or what it returned. */
async function outcome<T>(p: Promise<T>): Promise<Refused | { returned: T }> {
  try {
    return { returned: await p };
  } catch (e) {
    const d = statusDetails(e as ServiceError);
    return { code: (e as ServiceError).code, reason: d.reason, fields: d.violations.map((v) => v.field) };
  }
}

const ids = (events: readonly { eventId: string }[]): string[] => events.map((e) => e.eventId).sort();

/**
 * The attack of the trial: binary search on [from, to) for the instant at which one event occurred, one
 * query per step. Returns the instant recovered (to the millisecond).
 */
async function recoverOccurredAt(agreementId: string, purpose: string, eventId: string): Promise<string> {
  let lo = Date.parse('2023-01-01T00:00:00Z');
  let hi = Date.parse('2024-01-01T00:00:00Z');
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const { events } = await query(rs.exchange, {
      agreementId,
      purpose,
      from: new Date(lo).toISOString(),
      to: new Date(mid).toISOString(),
    });
    if (events.some((e) => e.eventId === eventId)) hi = mid;
    else lo = mid;
  }
  return new Date(lo).toISOString();
}

async function denials(reason: string): Promise<number> {
  let n = 0;
  for await (const m of readAudit(await jetstreamManager(mk.nats), 'MK')) {
    const a = decodeAuditEntry(m.data);
    if (a.kind === 'disclosure' && a.mode === 'denied' && a.reason === reason) n += 1;
  }
  return n;
}

describe('Exchange.Query time bounds', () => {
  it('refuses from/to when the agreement withholds occurredAt: binary search recovers nothing', async () => {
    const target = crossings[7] as ValidEvent;
    const result = await outcome(recoverOccurredAt('MK-RS-NT', 'risk-analysis', target.eventId));
    expect(result).toEqual({
      code: status.PERMISSION_DENIED,
      reason: 'TIME_BOUND_NOT_DISCLOSED',
      fields: ['from', 'to'],
    });
    // Either bound alone is refused, naming it; the refusal is audited.
    const before = await denials('TIME_BOUND_NOT_DISCLOSED');
    expect(
      await outcome(
        query(rs.exchange, {
          agreementId: 'MK-RS-NT',
          purpose: 'risk-analysis',
          from: '2023-09-03T00:00:00Z',
        }),
      ),
    ).toEqual({ code: status.PERMISSION_DENIED, reason: 'TIME_BOUND_NOT_DISCLOSED', fields: ['from'] });
    expect(
      await outcome(
        query(rs.exchange, {
          agreementId: 'MK-RS-NT',
          purpose: 'risk-analysis',
          types: ['crossing.irregular'],
          to: '2023-09-03T00:00:00Z',
        }),
      ),
    ).toEqual({ code: status.PERMISSION_DENIED, reason: 'TIME_BOUND_NOT_DISCLOSED', fields: ['to'] });
    expect(await denials('TIME_BOUND_NOT_DISCLOSED')).toBe(before + 2);
    // Without bounds the same agreement answers as before.
    const { events } = await query(rs.exchange, { agreementId: 'MK-RS-NT', purpose: 'risk-analysis' });
    expect(ids(events)).toEqual(ids(crossings));
  });

  it('refuses a bound when one type of the query has occurredAt withheld, and allows it for the other alone', async () => {
    const to = '2023-09-04T00:00:00.000Z';
    expect(
      await outcome(query(rs.exchange, { agreementId: 'MK-RS-2T', purpose: 'risk-analysis', to })),
    ).toEqual({ code: status.PERMISSION_DENIED, reason: 'TIME_BOUND_NOT_DISCLOSED', fields: ['to'] });
    expect(
      await outcome(
        query(rs.exchange, {
          agreementId: 'MK-RS-2T',
          purpose: 'risk-analysis',
          types: ['smuggling.incident'],
          to,
        }),
      ),
    ).toMatchObject({ code: status.PERMISSION_DENIED, reason: 'TIME_BOUND_NOT_DISCLOSED' });
    const { events } = await query(rs.exchange, {
      agreementId: 'MK-RS-2T',
      purpose: 'risk-analysis',
      types: ['crossing.irregular'],
      to,
    });
    expect(ids(events)).toEqual(ids(crossings.filter((e) => e.occurredAt < to)));
  });

  it('answers a bound only from events whose grant discloses occurredAt: an exit never comes out, whatever the bounds', async () => {
    const entries = crossings.filter((e) => e.crossingIrregular?.direction === 'entry');
    const exit = crossings.find((e) => e.crossingIrregular?.direction === 'exit');
    if (entries.length === 0 || exit === undefined) throw new Error('the test data needs entries and exits');
    const req = { agreementId: 'MK-RS-MIX', purpose: 'anti-smuggling' };
    const all = await query(rs.exchange, {
      ...req,
      from: '2023-01-01T00:00:00Z',
      to: '2024-01-01T00:00:00Z',
    });
    expect(ids(all.events)).toEqual(ids(entries));
    const [from, to] = ['2023-09-03T00:00:00.000Z', '2023-09-05T00:00:00.000Z'];
    const some = await query(rs.exchange, { ...req, from, to });
    expect(ids(some.events)).toEqual(ids(entries.filter((e) => e.occurredAt >= from && e.occurredAt < to)));
    // A bound around the exit's own instant finds nothing of it.
    const around = await query(rs.exchange, {
      ...req,
      from: exit.occurredAt,
      to: new Date(Date.parse(exit.occurredAt) + 1).toISOString(),
    });
    expect(around.events.map((e) => e.eventId)).not.toContain(exit.eventId);
    // Unbounded, the exit is there (with its direction): it is the bound that must not find it.
    const unbounded = await query(rs.exchange, req);
    expect(ids(unbounded.events)).toEqual(ids(crossings));
  });
});

/** Everything RS gets from one full query and from a walk in pages of `pageSize`. */
async function snapshot(agreementId: string, purpose: string, pageSize: number) {
  const whole = await query(rs.exchange, { agreementId, purpose });
  const pages: { events: QueryEvent[]; end: QueryEnd }[] = [];
  let resumeToken = '';
  for (let i = 0; i < 1_000; i++) {
    const page = await query(rs.exchange, { agreementId, purpose, pageSize, resumeToken });
    pages.push(page);
    resumeToken = page.end.resumeToken;
    if (!page.end.more) break;
  }
  const refused = await outcome(query(rs.exchange, { agreementId, purpose, types: ['asylum.application'] }));
  return { whole, pages, refused };
}

/** The resume token the code before this fix made: `<sequence>.<hash of the request>`, base64url. */
function legacyToken(seq: number, agreementId: string, purpose: string, types: string[]): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([agreementId, purpose, types, '', '', {}]))
    .digest('base64url')
    .slice(0, 22);
  return Buffer.from(`${seq}.${hash}`).toString('base64url');
}

describe('Exchange.Query pages and resume tokens', () => {
  it('gives the same answer, byte for byte, whether or not the origin holds events RS may not see', async () => {
    const before = [
      await snapshot('MK-RS-T', 'border-management', crossings.length),
      await snapshot('MK-RS-T', 'border-management', 7),
    ];
    expect(before[0]?.pages[0]?.events).toHaveLength(crossings.length);
    await submit(heldBack);
    const after = [
      await snapshot('MK-RS-T', 'border-management', crossings.length),
      await snapshot('MK-RS-T', 'border-management', 7),
    ];
    expect(after).toEqual(before);
    // Paging still returns every event once.
    const walked = (before[1]?.pages ?? []).flatMap((p) => p.events);
    expect(walked.map((e) => e.eventId).sort()).toEqual(ids(crossings));
  });

  it('hands out tokens that carry no sequence number', async () => {
    const { events, end } = await query(rs.exchange, {
      agreementId: 'MK-RS-T',
      purpose: 'border-management',
      pageSize: 50,
    });
    for (const token of [...events.map((e) => e.resumeToken), end.resumeToken]) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(token, 'base64url').toString('latin1')).not.toMatch(/^\d+\./);
    }
    expect(new Set(events.map((e) => e.resumeToken)).size).toBe(events.length);
  });

  it('refuses a token made up to start the scan at a chosen sequence, and a token of another agreement', async () => {
    const req = { agreementId: 'MK-RS-T', purpose: 'border-management', pageSize: 1 };
    const forged = legacyToken(others.length, 'MK-RS-T', 'border-management', ['crossing.irregular']);
    expect(await outcome(query(rs.exchange, { ...req, resumeToken: forged }))).toEqual({
      code: status.INVALID_ARGUMENT,
      reason: 'BAD_RESUME_TOKEN',
      fields: ['resumeToken'],
    });
    const { end } = await query(rs.exchange, {
      agreementId: 'MK-RS-NT',
      purpose: 'risk-analysis',
      pageSize: 1,
    });
    expect(await outcome(query(rs.exchange, { ...req, resumeToken: end.resumeToken }))).toEqual({
      code: status.INVALID_ARGUMENT,
      reason: 'BAD_RESUME_TOKEN',
      fields: ['resumeToken'],
    });
    const flipped = Buffer.from(end.resumeToken, 'base64url');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(
      await outcome(
        query(rs.exchange, {
          agreementId: 'MK-RS-NT',
          purpose: 'risk-analysis',
          pageSize: 1,
          resumeToken: flipped.toString('base64url'),
        }),
      ),
    ).toMatchObject({ reason: 'BAD_RESUME_TOKEN' });
  });
});

describe('Exchange.Query conditions and sizes', () => {
  const rows: [string, Record<string, unknown>, Refused][] = [
    [
      'a condition on a person attribute the agreement discloses',
      {
        agreementId: 'MK-RS-NT',
        purpose: 'risk-analysis',
        where: { 'persons.citizenship': { values: ['PAK'] } },
      },
      { code: status.PERMISSION_DENIED, reason: 'WHERE_FIELD_NOT_DISCLOSED', fields: [] },
    ],
    [
      'a condition on a subject reference',
      {
        agreementId: 'MK-RS-T',
        purpose: 'border-management',
        where: { 'persons.subjectRef': { values: ['0'.repeat(64)] } },
      },
      { code: status.PERMISSION_DENIED, reason: 'WHERE_FIELD_NOT_DISCLOSED', fields: [] },
    ],
    [
      'a condition on occurredAt itself',
      {
        agreementId: 'MK-RS-T',
        purpose: 'border-management',
        where: { occurredAt: { values: ['2023-09-03T00:00:00Z'] } },
      },
      { code: status.PERMISSION_DENIED, reason: 'WHERE_FIELD_NOT_DISCLOSED', fields: [] },
    ],
    [
      'a condition on a withheld field',
      {
        agreementId: 'MK-RS-NT',
        purpose: 'risk-analysis',
        where: { detectionMethod: { values: ['surveillance'] } },
      },
      { code: status.PERMISSION_DENIED, reason: 'WHERE_FIELD_NOT_DISCLOSED', fields: [] },
    ],
    [
      'a type the agreement does not cover',
      { agreementId: 'MK-RS-T', purpose: 'border-management', types: ['asylum.application'] },
      { code: status.PERMISSION_DENIED, reason: 'TYPE_NOT_AGREED', fields: [] },
    ],
    [
      'a page over the maximum',
      { agreementId: 'MK-RS-T', purpose: 'border-management', pageSize: QUERY_PAGE_MAX + 1 },
      { code: status.INVALID_ARGUMENT, reason: 'INVALID_REQUEST', fields: ['pageSize'] },
    ],
  ];
  it.each(rows)('refuses %s', async (_name, req, expected) => {
    expect(await outcome(query(rs.exchange, req))).toEqual(expected);
  });
});

describe('Exchange.Match on references of events the agreement does not cover', () => {
  /** The reference keyed for `agreementId` as MK's gateway keys it (the test reads its secret). */
  const keyedAs = async (agreementId: string, ref: string): Promise<string> =>
    (await Pseudonyms.open(join(mk.config.data, 'exchange', 'subject-ref.secret'))).keyed(agreementId, ref);
  const refsOf = (e: ValidEvent): string[] =>
    subjectRefsOf((e as unknown as Record<string, Record<string, unknown>>)[bodyKey(e.type)] ?? {}).filter(
      (r) => r !== '',
    );
  const bodyKey = (type: string): string => type.replace(/\.(\w)/, (_m, c: string) => c.toUpperCase());

  it('hits only with the covered events of a person who also appears in others', async () => {
    const inOthers = new Set([...others, ...heldBack].flatMap(refsOf));
    const shared = crossings.flatMap(refsOf).find((r) => inOthers.has(r));
    if (shared === undefined)
      throw new Error('the test data has no person in a crossing and in another event');
    const res = await match(rs.exchange, {
      agreementId: 'MK-RS-T',
      purpose: 'border-management',
      subjectRefs: [await keyedAs('MK-RS-T', shared)],
    });
    expect(res.hits).toHaveLength(1);
    expect(ids(res.hits[0]?.events ?? [])).toEqual(ids(crossings.filter((e) => refsOf(e).includes(shared))));
  });

  it('gives no hit for a person only in events of a type the agreement does not cover, even correctly keyed', async () => {
    const inCrossings = new Set(crossings.flatMap(refsOf));
    const outside = [...others, ...heldBack].flatMap(refsOf).filter((r) => !inCrossings.has(r));
    expect(outside.length).toBeGreaterThan(0);
    const inside = crossings.flatMap(refsOf)[0] ?? '';
    const refs = await Promise.all([inside, ...outside.slice(0, 50)].map((r) => keyedAs('MK-RS-T', r)));
    const res = await match(rs.exchange, {
      agreementId: 'MK-RS-T',
      purpose: 'border-management',
      subjectRefs: refs,
    });
    // The keying is right (the crossing's person hits); none of the others does.
    expect(res.hits.map((h) => h.subjectRef)).toEqual([refs[0]]);
  });

  it('gives no hit for a person only in events whose grant withholds the reference', async () => {
    const entryRefs = new Set(
      crossings.filter((e) => e.crossingIrregular?.direction === 'entry').flatMap(refsOf),
    );
    const exitOnly = crossings
      .filter((e) => e.crossingIrregular?.direction === 'exit')
      .flatMap(refsOf)
      .filter((r) => !entryRefs.has(r));
    expect(exitOnly.length).toBeGreaterThan(0);
    const entry = [...entryRefs][0] ?? '';
    const refs = await Promise.all([entry, ...exitOnly.slice(0, 50)].map((r) => keyedAs('MK-RS-MIX', r)));
    const res = await match(rs.exchange, {
      agreementId: 'MK-RS-MIX',
      purpose: 'anti-smuggling',
      subjectRefs: refs,
    });
    expect(res.hits.map((h) => h.subjectRef)).toEqual([refs[0]]);
  });
});
