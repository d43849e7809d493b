import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { credentials, loadPackageDefinition, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { decodeAuditEntry, readAudit } from '@wbx/audit';
import { importPrivateJwk, verifyRootManifest, type ManifestBody, type SignedManifest } from '@wbx/registry';
import { uuidV7, validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer, readOwnSealedEvent, verifyPresentation } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { loadSync } from '@grpc/proto-loader';
import {
  protoDir,
  type AgreementDocument,
  type GetManifestResponse,
  type JwksResponse,
  type ListAgreementsResponse,
} from '@wbx/proto';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

import { wbx } from '@wbx/cli';
import type { Gateway } from '@wbx/gateway';
import { certSha256, makeTestPki, type CertFiles, type TestPki } from '@wbx/fixtures';
import {
  exchangeClients,
  match,
  query,
  refusal,
  unary,
  type Clients,
  type ReadmissionCase,
} from '../support/exchange-client.js';
import { startFederation, type Federation } from '@wbx/fixtures';
import { submitAll } from '../support/submit.js';

const RS_FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship', 'persons.subjectRef'];
const HOUR = 3_600_000;

let pki: TestPki;
let fed: Federation;
let manifest: ManifestBody;
let mk: Gateway;
let al: Gateway;
let alClockOffset = 0;
const certs: Record<string, CertFiles> = {};
let crossings: ValidEvent[];
let rsAtMk: Clients;

const exchangeSettings = (): Record<string, unknown> => ({
  'exchange.listen': '127.0.0.1:0',
  'exchange.tls.cert': pki.server.cert,
  'exchange.tls.key': pki.server.key,
  'exchange.tls.clientCa': pki.caA,
  'exchange.matchRate': 0.2,
  'exchange.matchBurst': 6,
});

const ref = (): string => randomBytes(32).toString('hex');

beforeAll(async () => {
  pki = await makeTestPki();
  for (const p of ['MK', 'RS', 'AL', 'XX']) certs[p] = await pki.issueClient(p);
  const pins: Record<string, string[]> = {};
  for (const p of ['MK', 'RS', 'AL']) pins[p] = [await certSha256((certs[p] as CertFiles).cert)];
  fed = await startFederation(['MK', 'RS', 'AL'], pins);
  manifest = verifyRootManifest(
    JSON.parse(await readFile(fed.identity.manifestFile, 'utf8')) as SignedManifest,
  );
  const validFrom = new Date(Date.now() - HOUR).toISOString();
  const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
  const records = { mode: 'records', retentionDays: 30 };
  const base = { legalBasis: 'Test agreement under the Skopje Declaration', validFrom, validUntil };
  await fed.agree({
    ...base,
    id: 'MK-RS-Q',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['risk-analysis'],
    terms: [{ ...records, types: ['crossing.irregular'], fields: RS_FIELDS }],
  });
  await fed.agree({
    ...base,
    id: 'MK-RS-B',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    terms: [{ ...records, types: ['crossing.irregular'], fields: ['persons.subjectRef'] }],
  });
  await fed.agree({
    ...base,
    id: 'MK-RS-OLD',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['risk-analysis'],
    validFrom: '2024-01-01T00:00:00Z',
    validUntil: '2024-02-01T00:00:00Z',
    terms: [{ ...records, types: ['crossing.irregular'], fields: ['routeSegment'] }],
  });
  await fed.agree({
    ...base,
    id: 'AL-MK-RA',
    provider: 'AL',
    recipient: 'MK',
    purposes: ['return-readmission', 'risk-analysis'],
    readmission: { answerWithinHours: 1 },
    terms: [{ ...records, types: ['readmission.response'], fields: ['requestRef', 'outcome', 'reason'] }],
  });
  await fed.agree({
    ...base,
    id: 'AL-RS-RA',
    provider: 'AL',
    recipient: 'RS',
    purposes: ['return-readmission'],
    readmission: { answerWithinHours: 1 },
    terms: [{ ...records, types: ['readmission.response'], fields: ['outcome'] }],
  });
  // Persons granted whole, and detectionMethod only for entries: neither the origin's references nor a
  // withheld detectionMethod may come out.
  await fed.agree({
    ...base,
    id: 'MK-RS-W',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['anti-smuggling'],
    terms: [
      {
        ...records,
        types: ['crossing.irregular'],
        fields: ['persons', 'direction', 'detectionMethod'],
        where: { direction: ['entry'] },
      },
      { ...records, types: ['crossing.irregular'], fields: ['routeSegment', 'direction'] },
    ],
  });
  await fed.agree({
    ...base,
    id: 'MK-AL-X',
    provider: 'MK',
    recipient: 'AL',
    purposes: ['risk-analysis'],
    terms: [{ ...records, types: ['crossing.irregular'], fields: ['routeSegment'] }],
  });
  mk = await fed.start('MK', { settings: exchangeSettings() });
  al = await fed.start('AL', {
    settings: exchangeSettings(),
    now: () => new Date(Date.now() + alClockOffset),
  });
  const events = [
    ...generateEvents({
      partner: 'MK',
      count: 600,
      seed: 'exchange',
      from: new Date('2023-09-01'),
      to: new Date('2023-09-08'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
  await submitAll(mk, events);
  crossings = events.filter((e) => e.type === 'crossing.irregular');
  rsAtMk = await exchangeClients(pki, mk.exchangeAddress ?? '', certs.RS as CertFiles);
}, 90_000);

afterAll(async () => {
  rsAtMk.close();
  await fed[Symbol.asyncDispose]();
  await pki[Symbol.asyncDispose]();
});

const auditEntries = async (g: Gateway) => {
  const out = [];
  for await (const m of readAudit(await jetstreamManager(g.nats), g.config.partner))
    out.push(decodeAuditEntry(m.data));
  return out;
};

describe('Exchange.Query over mTLS', () => {
  it('returns every agreed event with exactly the agreed fields, subject references keyed per agreement', async () => {
    const { events, end } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-Q',
      purpose: 'risk-analysis',
    });
    expect(end).toMatchObject({ returned: crossings.length, more: false });
    expect(events.map((e) => e.eventId).sort()).toEqual(crossings.map((e) => e.eventId).sort());
    const byId = new Map(crossings.map((e) => [e.eventId, e]));
    for (const e of events) {
      const v = verifyPresentation(e.presentation, { manifest });
      const paths = v.disclosed.filter((p) => p !== 'persons');
      expect(paths.every((p) => RS_FIELDS.includes(p) && p !== 'persons.subjectRef')).toBe(true);
      const persons = (byId.get(e.eventId)?.crossingIrregular as { persons: { subjectRef?: string }[] })
        .persons;
      expect(e.subjectRefs).toHaveLength(persons.length);
      persons.forEach((p, i) => {
        if (p.subjectRef === undefined) expect(e.subjectRefs[i]).toBe('');
        else {
          expect(e.subjectRefs[i]).toMatch(/^[0-9a-f]{64}$/);
          expect(e.subjectRefs[i]).not.toBe(p.subjectRef);
          expect(e.presentation).not.toContain(p.subjectRef);
        }
      });
    }
    const audited = (await auditEntries(mk)).flatMap((a) =>
      a.kind === 'disclosure' && a.mode === 'query' && a.agreementId === 'MK-RS-Q' ? (a.eventIds ?? []) : [],
    );
    expect(new Set(audited)).toEqual(new Set(events.map((e) => e.eventId)));
  });

  it('pages with a resume token: no event twice, none lost; a token of another query is refused', async () => {
    const req = { agreementId: 'MK-RS-Q', purpose: 'risk-analysis', pageSize: 40 };
    const seen: string[] = [];
    let token = '';
    for (let page = 0; page < 100; page++) {
      const { events, end } = await query(rsAtMk.exchange, { ...req, resumeToken: token });
      seen.push(...events.map((e) => e.eventId));
      token = end.resumeToken;
      if (!end.more) break;
    }
    expect(seen).toHaveLength(crossings.length);
    expect(new Set(seen).size).toBe(crossings.length);
    const other = await refusal(
      query(rsAtMk.exchange, {
        ...req,
        types: ['crossing.irregular'],
        from: '2023-09-02T00:00:00Z',
        resumeToken: token,
      }),
    );
    expect(other).toEqual({ code: status.INVALID_ARGUMENT, reason: 'BAD_RESUME_TOKEN' });
  });

  it('filters by time and by a disclosed field; a condition on a withheld field is denied', async () => {
    const from = '2023-09-03T00:00:00.000Z';
    const to = '2023-09-05T00:00:00.000Z';
    const segment = crossings[0]?.crossingIrregular?.routeSegment as string;
    const { events } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-Q',
      purpose: 'risk-analysis',
      from,
      to,
      where: { routeSegment: { values: [segment] } },
    });
    const expected = crossings.filter(
      (e) => e.occurredAt >= from && e.occurredAt < to && e.crossingIrregular?.routeSegment === segment,
    );
    expect(events.map((e) => e.eventId).sort()).toEqual(expected.map((e) => e.eventId).sort());
    const withheld = await refusal(
      query(rsAtMk.exchange, {
        agreementId: 'MK-RS-Q',
        purpose: 'risk-analysis',
        where: { borderSection: { values: ['x'] } },
      }),
    );
    expect(withheld).toEqual({ code: status.PERMISSION_DENIED, reason: 'WHERE_FIELD_NOT_DISCLOSED' });
  });

  it('refuses wrong purpose, an agreement not in force, another pair’s agreement, an unpinned certificate — and audits each', async () => {
    const unpinned = await exchangeClients(pki, mk.exchangeAddress ?? '', certs.XX as CertFiles);
    const cases: [Clients, string, string, string][] = [
      [rsAtMk, 'MK-RS-Q', 'border-management', 'PURPOSE_NOT_AGREED'],
      [rsAtMk, 'MK-RS-OLD', 'risk-analysis', 'AGREEMENT_NOT_IN_FORCE'],
      [rsAtMk, 'MK-AL-X', 'risk-analysis', 'UNKNOWN_AGREEMENT'],
      [rsAtMk, 'NO-SUCH', 'risk-analysis', 'UNKNOWN_AGREEMENT'],
      [unpinned, 'MK-RS-Q', 'risk-analysis', 'CERT_NOT_PINNED'],
    ];
    try {
      for (const [client, agreementId, purpose, reason] of cases) {
        expect(await refusal(query(client.exchange, { agreementId, purpose }))).toEqual({
          code: status.PERMISSION_DENIED,
          reason,
        });
        expect(await refusal(match(client.exchange, { agreementId, purpose, subjectRefs: [ref()] }))).toEqual(
          { code: status.PERMISSION_DENIED, reason },
        );
      }
    } finally {
      unpinned.close();
    }
    const denied = (await auditEntries(mk)).flatMap((a) =>
      a.kind === 'disclosure' && a.mode === 'denied' ? [[a.recipient, a.reason, a.eventType]] : [],
    );
    for (const [, , , reason] of cases) {
      expect(denied.filter(([, r]) => r === reason).length).toBeGreaterThanOrEqual(2);
    }
    expect(denied).toContainEqual(['UNKNOWN', 'CERT_NOT_PINNED', 'exchange.query']);
    expect(denied).toContainEqual(['RS', 'PURPOSE_NOT_AGREED', 'exchange.match']);
  });

  it('honours deadlines and cancellation: the call ends, the gateway goes on serving', async () => {
    const late = await refusal(
      new Promise((resolve, reject) => {
        const call = rsAtMk.exchange.query(
          {
            agreementId: 'MK-RS-Q',
            purpose: 'risk-analysis',
            types: [],
            where: {},
            pageSize: 0,
            resumeToken: '',
          },
          { deadline: Date.now() + 1 },
        );
        call.on('data', () => undefined);
        call.on('error', reject);
        call.on('end', resolve);
      }),
    );
    expect(late.code).toBe(status.DEADLINE_EXCEEDED);
    const cancelled = await new Promise<number>((resolve) => {
      const call = rsAtMk.exchange.query({
        agreementId: 'MK-RS-Q',
        purpose: 'risk-analysis',
        types: [],
        where: {},
        pageSize: 0,
        resumeToken: '',
      });
      call.on('data', () => call.cancel());
      call.on('error', (e: { code: number }) => resolve(e.code));
      call.on('end', () => resolve(-1));
    });
    expect(cancelled).toBe(status.CANCELLED);
    const { end } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-Q',
      purpose: 'risk-analysis',
      pageSize: 3,
    });
    expect(end).toMatchObject({ returned: 3, more: true });
  });

  it('never gives out the origin’s own references, also when an agreement grants persons whole', async () => {
    const { events } = await query(rsAtMk.exchange, { agreementId: 'MK-RS-W', purpose: 'anti-smuggling' });
    expect(events).toHaveLength(crossings.length);
    const raw = crossings.flatMap((e) =>
      (e.crossingIrregular?.persons ?? []).flatMap((p) => (p.subjectRef === undefined ? [] : [p.subjectRef])),
    );
    const all = events.map((e) => e.presentation).join('\n');
    for (const r of raw) expect(all).not.toContain(r);
    const entry = events.find(
      (e) => crossings.find((c) => c.eventId === e.eventId)?.crossingIrregular?.direction === 'entry',
    );
    const disclosed = verifyPresentation(entry?.presentation ?? '', { manifest }).disclosed;
    expect(disclosed).toEqual(
      expect.arrayContaining(['persons.citizenship', 'persons.ageBand', 'detectionMethod']),
    );
    expect(disclosed).not.toContain('persons.subjectRef');
    expect(events.flatMap((e) => e.subjectRefs).filter((r) => r !== '').length).toBeGreaterThan(0);
  });

  it('answers a condition only from events whose grant discloses the field: nothing withheld leaks through it', async () => {
    const byMethod = new Map<string, Set<string>>();
    for (const c of crossings) {
      const b = c.crossingIrregular;
      if (b === undefined) continue;
      const set = byMethod.get(b.detectionMethod) ?? new Set<string>();
      set.add(b.direction);
      byMethod.set(b.detectionMethod, set);
    }
    // A method seen on entries (disclosed) and on exits (withheld): the condition must not reach the exits.
    const method = [...byMethod].find(([, dirs]) => dirs.size > 1)?.[0];
    if (method === undefined)
      throw new Error('the test data has no detection method on both entries and exits');
    const { events } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-W',
      purpose: 'anti-smuggling',
      where: { detectionMethod: { values: [method] } },
    });
    const expected = crossings.filter(
      (c) => c.crossingIrregular?.detectionMethod === method && c.crossingIrregular.direction === 'entry',
    );
    expect(events.map((e) => e.eventId).sort()).toEqual(expected.map((e) => e.eventId).sort());
  });

  it('refuses at the TLS handshake a client without a certificate of the federation CA', async () => {
    const foreign = await exchangeClients(pki, mk.exchangeAddress ?? '', pki.foreignClient);
    try {
      const r = await refusal(query(foreign.exchange, { agreementId: 'MK-RS-Q', purpose: 'risk-analysis' }));
      expect(r.code).toBe(status.UNAVAILABLE);
    } finally {
      foreign.close();
    }
  });
});

describe('Exchange.Match', () => {
  it('hits only for references that exist under this agreement, with event ids and types only', async () => {
    const { events } = await query(rsAtMk.exchange, { agreementId: 'MK-RS-Q', purpose: 'risk-analysis' });
    const known = events.flatMap((e) =>
      e.subjectRefs.filter((r) => r !== '').map((r) => [r, e.eventId] as const),
    );
    expect(known.length).toBeGreaterThan(10);
    const [first, second] = known;
    const rawRef =
      (crossings[0]?.crossingIrregular as { persons: { subjectRef?: string }[] }).persons.find(
        (p) => p.subjectRef,
      )?.subjectRef ?? ref();
    const { events: underB } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-B',
      purpose: 'border-management',
    });
    const refB = underB.flatMap((e) => e.subjectRefs).find((r) => r !== '') ?? '';
    const unknown = ref();
    const res = await match(rsAtMk.exchange, {
      agreementId: 'MK-RS-Q',
      purpose: 'risk-analysis',
      subjectRefs: [first?.[0] ?? '', second?.[0] ?? '', unknown, rawRef, refB],
    });
    expect(res.checked).toBe(5);
    expect(res.hits.map((h) => h.subjectRef).sort()).toEqual([first?.[0], second?.[0]].sort());
    for (const h of res.hits) {
      expect(Object.keys(h).sort()).toEqual(['events', 'subjectRef']);
      for (const e of h.events) expect(Object.keys(e).sort()).toEqual(['eventId', 'type']);
    }
    expect(res.hits.find((h) => h.subjectRef === first?.[0])?.events.map((e) => e.eventId)).toContain(
      first?.[1],
    );
    // The same person under the other agreement: a different reference, unlinkable, and it hits there.
    expect(underB.flatMap((e) => e.subjectRefs)).not.toContain(first?.[0]);
    const resB = await match(rsAtMk.exchange, {
      agreementId: 'MK-RS-B',
      purpose: 'border-management',
      subjectRefs: [refB],
    });
    expect(resB.hits).toHaveLength(1);
    const audited = (await auditEntries(mk)).filter((a) => a.kind === 'disclosure' && a.mode === 'match');
    expect(audited.length).toBeGreaterThanOrEqual(2);
  });
});

describe('readmission workflow MK → AL', () => {
  let mkAtAl: Clients;
  let alAtAl: Clients;
  let rsAtAl: Clients;
  const sealRequest = async (requestRef: string): Promise<{ id: string; token: string }> => {
    const key = importPrivateJwk(JSON.parse(await readFile(fed.identity.keyFile('MK'), 'utf8')));
    const now = new Date();
    const id = uuidV7(now.getTime());
    const r = validateEvent({
      eventId: id,
      origin: 'MK',
      type: 'readmission.request',
      schemaVersion: 1,
      occurredAt: now.toISOString(),
      recordedAt: now.toISOString(),
      readmissionRequest: {
        requestRef,
        requestingState: 'MK',
        requestedState: 'AL',
        person: {
          subjectRef: ref(),
          citizenship: 'ALB',
          sex: 'M',
          ageBand: '18-34',
          unaccompaniedMinor: false,
        },
        evidence: ['travel-document-copy'],
        deadline: new Date(now.getTime() + HOUR).toISOString(),
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.violations));
    const token = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key }).seal(r.event, { now });
    return { id, token };
  };
  const submit = (c: Clients, sealedRequest: string) =>
    unary<ReadmissionCase>((cb) =>
      c.exchange.submitReadmissionRequest(
        { agreementId: 'AL-MK-RA', purpose: 'return-readmission', sealedRequest },
        cb,
      ),
    );
  const get = (c: Clients, requestId: string) =>
    unary<ReadmissionCase>((cb) =>
      c.exchange.getReadmissionRequest({ agreementId: 'AL-MK-RA', purpose: '', requestId }, cb),
    );
  const answer = (c: Clients, requestId: string, outcome: string, reason = '') =>
    unary<ReadmissionCase>((cb) =>
      c.exchange.answerReadmissionRequest(
        { agreementId: 'AL-MK-RA', purpose: '', requestId, outcome, reason },
        cb,
      ),
    );

  beforeAll(async () => {
    mkAtAl = await exchangeClients(pki, al.exchangeAddress ?? '', certs.MK as CertFiles);
    alAtAl = await exchangeClients(pki, al.exchangeAddress ?? '', certs.AL as CertFiles);
    rsAtAl = await exchangeClients(pki, al.exchangeAddress ?? '', certs.RS as CertFiles);
  });
  afterAll(() => {
    for (const c of [mkAtAl, alAtAl, rsAtAl]) c.close();
  });

  it('submits (idempotently), answers with a sealed response both sides can verify, and keeps the answer', async () => {
    const { id, token } = await sealRequest('MK-RA-2026-000001');
    const first = await submit(mkAtAl, token);
    expect(first).toMatchObject({
      requestId: id,
      state: 'pending',
      requestingState: 'MK',
      requestedState: 'AL',
      duplicate: false,
    });
    expect(Date.parse(first.deadline ?? '') - Date.parse(first.receivedAt ?? '')).toBe(HOUR);
    expect(await submit(mkAtAl, token)).toMatchObject({ requestId: id, state: 'pending', duplicate: true });
    expect(await get(mkAtAl, id)).toMatchObject({ state: 'pending' });
    expect(await refusal(answer(mkAtAl, id, 'accepted'))).toEqual({
      code: status.PERMISSION_DENIED,
      reason: 'UNKNOWN_AGREEMENT',
    });
    expect(await refusal(get(rsAtAl, id))).toMatchObject({ code: status.PERMISSION_DENIED });
    const answered = await answer(alAtAl, id, 'accepted');
    expect(answered).toMatchObject({ state: 'accepted', duplicate: false });
    const response = verifyPresentation(answered.sealedResponse, { manifest });
    expect(response.claims).toMatchObject({
      iss: 'AL',
      wbx_type: 'readmission.response',
      requestRef: 'MK-RA-2026-000001',
      outcome: 'accepted',
    });
    expect(verifyPresentation(answered.sealedRequest, { manifest }).claims.jti).toBe(id);
    expect(await answer(alAtAl, id, 'accepted')).toMatchObject({ state: 'accepted', duplicate: true });
    expect(await refusal(answer(alAtAl, id, 'rejected', 'not-national'))).toEqual({
      code: status.FAILED_PRECONDITION,
      reason: 'ALREADY_ANSWERED',
    });
    expect(await get(mkAtAl, id)).toMatchObject({
      state: 'accepted',
      sealedResponse: answered.sealedResponse,
    });
    // AL keeps its answer as its own sealed event in WBX_EVENTS.
    const stored = await (await import('@nats-io/jetstream')).jetstreamManager(al.nats);
    const last = await stored.streams.getMessage('WBX_EVENTS', {
      last_by_subj: 'wbx.evt.AL.readmission.response',
    });
    expect(last?.string()).toBe(answered.sealedResponse);
  });

  it('refuses a request sealed by another partner or addressed elsewhere, and a forged one', async () => {
    const { token } = await sealRequest('MK-RA-2026-000002');
    expect(await refusal(submit(rsAtAl, token))).toMatchObject({ code: status.PERMISSION_DENIED });
    const forged = token.replace(
      /^([^.]+\.[^.]+\.)(.)/,
      (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`,
    );
    expect(await refusal(submit(mkAtAl, forged))).toEqual({
      code: status.INVALID_ARGUMENT,
      reason: 'BAD_SEALED_REQUEST',
    });
    expect(await refusal(get(mkAtAl, uuidV7(Date.now())))).toEqual({
      code: status.NOT_FOUND,
      reason: 'UNKNOWN_REQUEST',
    });
  });

  it('keeps a case to its owner: another state reusing its id learns nothing; readmission calls are for return-readmission only', async () => {
    const { id, token } = await sealRequest('MK-RA-2026-000004');
    await submit(mkAtAl, token);
    const key = importPrivateJwk(JSON.parse(await readFile(fed.identity.keyFile('RS'), 'utf8')));
    const now = new Date();
    const r = validateEvent({
      eventId: id,
      origin: 'RS',
      type: 'readmission.request',
      schemaVersion: 1,
      occurredAt: now.toISOString(),
      recordedAt: now.toISOString(),
      readmissionRequest: {
        requestRef: 'RS-RA-2026-000001',
        requestingState: 'RS',
        requestedState: 'AL',
        person: { citizenship: 'ALB', sex: 'F', ageBand: '18-34', unaccompaniedMinor: false },
        evidence: ['entry-stamp'],
        deadline: new Date(now.getTime() + HOUR).toISOString(),
      },
    });
    if (!r.ok) throw new Error('invalid request');
    const rsToken = createSealer({ issuer: 'RS', kid: key.kid, privateKey: key.key }).seal(r.event, { now });
    const stolen = await refusal(
      unary<ReadmissionCase>((cb) =>
        rsAtAl.exchange.submitReadmissionRequest(
          { agreementId: 'AL-RS-RA', purpose: 'return-readmission', sealedRequest: rsToken },
          cb,
        ),
      ),
    );
    expect(stolen).toEqual({ code: status.INVALID_ARGUMENT, reason: 'BAD_SEALED_REQUEST' });
    const otherPurpose = await refusal(
      unary<ReadmissionCase>((cb) =>
        mkAtAl.exchange.getReadmissionRequest(
          { agreementId: 'AL-MK-RA', purpose: 'risk-analysis', requestId: id },
          cb,
        ),
      ),
    );
    expect(otherPurpose).toEqual({ code: status.PERMISSION_DENIED, reason: 'PURPOSE_NOT_AGREED' });
    expect(await get(mkAtAl, id)).toMatchObject({ state: 'pending', requestingState: 'MK' });
    const denied = (await auditEntries(al)).flatMap((a) =>
      a.kind === 'disclosure' && a.mode === 'denied'
        ? [[a.recipient, a.agreementId, a.eventType, a.reason]]
        : [],
    );
    // Refused by the agreement check or by the case, a readmission call is audited as one kind of call.
    expect(denied).toEqual(
      expect.arrayContaining([
        ['RS', 'AL-RS-RA', 'exchange.readmission', 'BAD_SEALED_REQUEST'],
        ['MK', 'AL-MK-RA', 'exchange.readmission', 'PURPOSE_NOT_AGREED'],
      ]),
    );
  });

  it('finishes an answer interrupted by a crash once, whether or not its response was stored', async () => {
    const kv = await new Kvm(jetstream(al.nats)).open('wbx_readmission');
    const jsm = await jetstreamManager(al.nats);
    const events = async (): Promise<number> => (await jsm.streams.info('WBX_EVENTS')).state.messages;
    // Crashed after fixing the answer's id, before storing the response.
    const { id, token } = await sealRequest('MK-RA-2026-000005');
    await submit(mkAtAl, token);
    const entry = await kv.get(id);
    const stored = entry?.json<Record<string, unknown>>() ?? {};
    const responseId = uuidV7(Date.now());
    await kv.update(
      id,
      JSON.stringify({
        ...stored,
        answering: { eventId: responseId, outcome: 'accepted', at: new Date().toISOString() },
      }),
      entry?.revision ?? 0,
    );
    const before = await events();
    const finished = await get(mkAtAl, id);
    expect(finished.state).toBe('accepted');
    expect(verifyPresentation(finished.sealedResponse, { manifest }).claims.jti).toBe(responseId);
    expect(await events()).toBe(before + 1);
    // Crashed after storing the response, before completing the case: nothing is stored again.
    const second = await sealRequest('MK-RA-2026-000006');
    await submit(mkAtAl, second.token);
    const e2 = await kv.get(second.id);
    const seq = (await jsm.streams.info('WBX_EVENTS')).state.last_seq;
    await kv.update(
      second.id,
      JSON.stringify({
        ...(e2?.json<Record<string, unknown>>() ?? {}),
        answering: { eventId: responseId, outcome: 'accepted', at: new Date().toISOString(), seq },
      }),
      e2?.revision ?? 0,
    );
    const count = await events();
    const done = await get(mkAtAl, second.id);
    expect(done).toMatchObject({ state: 'accepted', sealedResponse: finished.sealedResponse });
    expect(await events()).toBe(count);
  });

  it('expires a request not answered by the deadline from the agreement, with a sealed expired response', async () => {
    const { id, token } = await sealRequest('MK-RA-2026-000003');
    await submit(mkAtAl, token);
    alClockOffset = HOUR + 60_000;
    try {
      const expired = await get(mkAtAl, id);
      expect(expired.state).toBe('expired');
      const now = new Date(Date.now() + alClockOffset);
      expect(verifyPresentation(expired.sealedResponse, { manifest, now }).claims.outcome).toBe('expired');
      expect(await refusal(answer(alAtAl, id, 'accepted'))).toEqual({
        code: status.FAILED_PRECONDITION,
        reason: 'EXPIRED',
      });
    } finally {
      alClockOffset = 0;
    }
  });
});

describe('Exchange.ListAgreements and GetAgreement', () => {
  it('lists only the caller’s active agreements with this partner and hands out their signed documents', async () => {
    const list = await unary<ListAgreementsResponse>((cb) => rsAtMk.exchange.listAgreements({}, cb));
    expect(list.agreements.map((a) => a.id).sort()).toEqual(['MK-RS-B', 'MK-RS-Q', 'MK-RS-W']);
    const doc = await unary<AgreementDocument>((cb) =>
      rsAtMk.exchange.getAgreement({ agreementId: 'MK-RS-Q' }, cb),
    );
    expect(doc.summary).toMatchObject({
      id: 'MK-RS-Q',
      provider: 'MK',
      recipient: 'RS',
      purposes: ['risk-analysis'],
    });
    expect((JSON.parse(doc.documentJson) as { signatures: unknown[] }).signatures).toHaveLength(2);
    const other = await refusal(
      unary<AgreementDocument>((cb) => rsAtMk.exchange.getAgreement({ agreementId: 'MK-AL-X' }, cb)),
    );
    expect(other).toEqual({ code: status.PERMISSION_DENIED, reason: 'UNKNOWN_AGREEMENT' });
  });
});

describe('Federation, health and reflection on the Exchange server', () => {
  it('serves the trusted manifest and the members’ keys as a JWK Set', async () => {
    const m = await unary<GetManifestResponse>((cb) => rsAtMk.federation.getManifest({}, cb));
    expect(m.manifestJson).toBe(await readFile(fed.identity.manifestFile, 'utf8'));
    expect(m.version).toBe(1);
    const jwks = JSON.parse(
      (await unary<JwksResponse>((cb) => rsAtMk.federation.jwks({ member: 'AL' }, cb))).jwksJson,
    ) as { keys: { kid: string; kty: string; wbx_member: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', wbx_member: 'AL' });
  });
});

describe('a client that is not generated code (@grpc/proto-loader, dynamic)', () => {
  type Callback = (e: ServiceError | null, r: Record<string, unknown>) => void;
  type Dyn = Client & Record<string, (req: unknown, cb?: Callback) => unknown>;
  type Ctor = new (address: string, creds: ReturnType<typeof credentials.createSsl>) => Dyn;

  it('loads the .proto files and calls Query, Match, Jwks, health and reflection by name', async () => {
    const def = loadSync(['wbx/v1/exchange.proto', 'wbx/v1/federation.proto', healthProtoPath], {
      includeDirs: [protoDir, dirname(healthProtoPath)],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = loadPackageDefinition(def) as unknown as {
      wbx: { v1: { Exchange: Ctor; Federation: Ctor } };
      grpc: { health: { v1: { Health: Ctor } } };
    };
    const { cert, key } = await pki.pem(certs.RS as CertFiles);
    const creds = credentials.createSsl(await readFile(pki.caA), key, cert);
    const address = mk.exchangeAddress ?? '';
    const exchange = new pkg.wbx.v1.Exchange(address, creds);
    const federation = new pkg.wbx.v1.Federation(address, creds);
    const health = new pkg.grpc.health.v1.Health(address, creds);
    const call = <T>(c: Dyn, method: string, req: unknown): Promise<T> =>
      new Promise((resolve, reject) => c[method]?.(req, (e, r) => (e ? reject(e) : resolve(r as T))));
    try {
      const items: Record<string, unknown>[] = await new Promise((resolve, reject) => {
        const out: Record<string, unknown>[] = [];
        const stream = exchange.Query?.({
          agreement_id: 'MK-RS-Q',
          purpose: 'risk-analysis',
          page_size: 5,
        }) as NodeJS.ReadableStream;
        stream.on('data', (m: Record<string, unknown>) => out.push(m));
        stream.on('error', reject);
        stream.on('end', () => resolve(out));
      });
      expect(items.at(-1)).toMatchObject({ events: [], end: { returned: 5, more: true } });
      const got = items.flatMap((m) => m.events as { presentation: string; subject_refs: string[] }[]);
      expect(got).toHaveLength(5);
      const first = got[0] ?? { presentation: '', subject_refs: [] };
      expect(verifyPresentation(first.presentation, { manifest }).claims.iss).toBe('MK');
      // A keyed reference Query gave (the page's events carry some): Match by name finds it.
      const ref0 = got.flatMap((e) => e.subject_refs).find((r) => r !== '');
      expect(ref0).toMatch(/^[0-9a-f]{64}$/);
      const hits = await call<{ hits: unknown[]; checked: number }>(exchange, 'Match', {
        agreement_id: 'MK-RS-Q',
        purpose: 'risk-analysis',
        subject_refs: [ref0],
      });
      expect(hits.checked).toBe(1);
      expect(hits.hits).toHaveLength(1);
      const jwks = await call<{ jwks_json: string }>(federation, 'Jwks', {});
      expect((JSON.parse(jwks.jwks_json) as { keys: unknown[] }).keys).toHaveLength(3);
      const st = await call<{ status: string }>(health, 'Check', { service: 'wbx.v1.Exchange' });
      expect(st.status).toBe('SERVING');
      // Server reflection (v1) on the same server lists Exchange, Federation and health.
      const reflectionDir = join(
        dirname(createRequire(import.meta.url).resolve('@grpc/reflection')),
        '..',
        'proto',
      );
      const rpkg = loadPackageDefinition(
        loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionDir] }),
      ) as unknown as {
        grpc: {
          reflection: {
            v1: {
              ServerReflection: new (
                a: string,
                c: ReturnType<typeof credentials.createSsl>,
              ) => Client & { serverReflectionInfo(): NodeJS.ReadWriteStream };
            };
          };
        };
      };
      const reflection = new rpkg.grpc.reflection.v1.ServerReflection(address, creds);
      try {
        const stream = reflection.serverReflectionInfo();
        const listed = await new Promise<{ listServicesResponse?: { service: { name: string }[] } }>(
          (resolve, reject) => {
            stream.once('data', resolve);
            stream.once('error', reject);
            stream.write({ listServices: '' } as unknown as string);
          },
        );
        stream.end();
        expect(listed.listServicesResponse?.service.map((x) => x.name)).toEqual(
          expect.arrayContaining(['wbx.v1.Exchange', 'wbx.v1.Federation', 'grpc.health.v1.Health']),
        );
      } finally {
        reflection.close();
      }
    } finally {
      for (const c of [exchange, federation, health]) c.close();
    }
  });
});

describe('wbx query, match and readmission (CLI over mTLS)', () => {
  const tls = (who: string): string[] => [
    '--tls-ca',
    pki.caA,
    '--cert',
    (certs[who] as CertFiles).cert,
    '--key',
    (certs[who] as CertFiles).key,
  ];

  it('queries page after page, verifies with --manifest, and says why a call is refused', async () => {
    const now = new Date();
    const base = [
      'query',
      '--gateway',
      mk.exchangeAddress ?? '',
      ...tls('RS'),
      '--agreement',
      'MK-RS-Q',
      '--purpose',
      'risk-analysis',
    ];
    const run = await wbx([...base, '--page-size', '100', '--manifest', fed.identity.manifestFile], { now });
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(crossings.length);
    expect(lines[0]).toMatchObject({ iss: 'MK', wbx_type: 'crossing.irregular' });
    expect(Object.keys(lines[0] ?? {})).not.toContain('borderSection');
    expect(run.stderr).toMatch(new RegExp(`^${crossings.length} events; resume token: \\S+\\n$`));
    const limited = await wbx([...base, '--limit', '7'], { now });
    expect(limited.stdout.trim().split('\n')).toHaveLength(7);
    const token = /resume token: (\S+)/.exec(limited.stderr)?.[1] ?? '';
    const rest = await wbx([...base, '--resume', token], { now });
    expect(rest.stdout.trim().split('\n')).toHaveLength(crossings.length - 7);
    const denied = await wbx(
      [
        'query',
        '--gateway',
        mk.exchangeAddress ?? '',
        ...tls('RS'),
        '--agreement',
        'MK-RS-Q',
        '--purpose',
        'anti-smuggling',
      ],
      { now },
    );
    expect(denied).toMatchObject({ code: 1, stdout: '' });
    expect(denied.stderr).toBe('wbx: PURPOSE_NOT_AGREED: the agreement does not name this purpose\n');
  });

  it('matches references and runs a readmission request from submit to status', async () => {
    const now = new Date();
    const { events } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-Q',
      purpose: 'risk-analysis',
      pageSize: 50,
    });
    const known = events.flatMap((e) => e.subjectRefs).find((r) => r !== '') ?? '';
    const m = await wbx(
      [
        'match',
        '--gateway',
        mk.exchangeAddress ?? '',
        ...tls('RS'),
        '--agreement',
        'MK-RS-Q',
        '--purpose',
        'risk-analysis',
        '--ref',
        known,
        '--ref',
        ref(),
      ],
      { now },
    );
    expect(m.code).toBe(0);
    expect(
      (JSON.parse(m.stdout) as { hits: { subjectRef: string }[] }).hits.map((h) => h.subjectRef),
    ).toEqual([known]);

    const file = `${fed.dir}/request.json`;
    const id = uuidV7(now.getTime());
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      file,
      JSON.stringify({
        eventId: id,
        origin: 'MK',
        type: 'readmission.request',
        schemaVersion: 1,
        occurredAt: now.toISOString(),
        recordedAt: now.toISOString(),
        readmissionRequest: {
          requestRef: 'MK-RA-2026-000100',
          requestingState: 'MK',
          requestedState: 'AL',
          person: { citizenship: 'ALB', sex: 'F', ageBand: '35-64', unaccompaniedMinor: false },
          evidence: ['entry-stamp'],
          deadline: new Date(now.getTime() + HOUR).toISOString(),
        },
      }),
    );
    const at = (who: string): string[] => [
      '--gateway',
      al.exchangeAddress ?? '',
      ...tls(who),
      '--agreement',
      'AL-MK-RA',
    ];
    const submitted = await wbx(
      [
        'readmission',
        'submit',
        ...at('MK'),
        '--seal-key',
        fed.identity.keyFile('MK'),
        '--file',
        file,
        '--keep-at',
        mk.grpcAddress,
        '--keep-insecure',
      ],
      { now },
    );
    expect(submitted.code).toBe(0);
    expect(JSON.parse(submitted.stdout)).toMatchObject({ requestId: id, state: 'pending', answered: false });
    // MK kept its request too: sealed by its own gateway, in its WBX_EVENTS.
    expect(submitted.stderr).toMatch(new RegExp(`kept at ${mk.grpcAddress}: ${id} seq \\d+`));
    const kept = await (
      await jetstreamManager(mk.nats)
    ).streams.getMessage('WBX_EVENTS', { last_by_subj: 'wbx.evt.MK.readmission.request' });
    expect(readOwnSealedEvent(kept?.string() ?? '').claims).toMatchObject({
      jti: id,
      requestRef: 'MK-RA-2026-000100',
    });
    const answered = await wbx(
      [
        'readmission',
        'answer',
        ...at('AL'),
        '--request',
        id,
        '--outcome',
        'rejected',
        '--reason',
        'not-national',
      ],
      { now },
    );
    expect(JSON.parse(answered.stdout)).toMatchObject({ state: 'rejected', reason: 'not-national' });
    const st = await wbx(
      ['readmission', 'status', ...at('MK'), '--request', id, '--manifest', fed.identity.manifestFile],
      { now },
    );
    expect(JSON.parse(st.stdout)).toMatchObject({
      state: 'rejected',
      request: { iss: 'MK', requestRef: 'MK-RA-2026-000100' },
      response: { iss: 'AL', outcome: 'rejected', reason: 'not-national' },
    });
    const wrongKey = await wbx(
      ['readmission', 'submit', ...at('MK'), '--seal-key', fed.identity.keyFile('RS'), '--file', file],
      { now },
    );
    expect(wrongKey.code).not.toBe(0);
    expect(wrongKey.stderr).toMatch(/readmission.request of RS/);
  });
});

describe('Match limits', () => {
  it('refuses malformed references and rate-limits each caller', async () => {
    // AL spends its own budget (no other test matches as AL at MK), so RS's is left to the other tests.
    const alAtMk = await exchangeClients(pki, mk.exchangeAddress ?? '', certs.AL as CertFiles);
    onTestFinished(() => alAtMk.close());
    const asAl = (subjectRefs: string[]) =>
      match(alAtMk.exchange, { agreementId: 'MK-AL-X', purpose: 'risk-analysis', subjectRefs });
    const bad = await refusal(asAl(['nothex']));
    expect(bad).toEqual({ code: status.INVALID_ARGUMENT, reason: 'INVALID_REQUEST' });
    const results: (number | 'ok')[] = [];
    for (let i = 0; i < 8; i++) {
      const outcome = await asAl([ref()]).catch((e: unknown) => e as ServiceError);
      results.push('code' in outcome ? outcome.code : 'ok');
    }
    expect(results).toContain(status.RESOURCE_EXHAUSTED);
    // Another caller's budget is its own.
    const rs = await match(rsAtMk.exchange, {
      agreementId: 'MK-RS-Q',
      purpose: 'risk-analysis',
      subjectRefs: [ref()],
    });
    expect(rs).toMatchObject({ hits: [], checked: 1 });
    const refused = (await auditEntries(mk)).flatMap((a) =>
      a.kind === 'disclosure' && a.mode === 'denied' && a.eventType === 'exchange.match' ? [a.reason] : [],
    );
    expect(refused).toEqual(expect.arrayContaining(['INVALID_REQUEST', 'RATE_LIMITED']));
  });
});
