import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { decodeAuditEntry, type DisclosureEntry } from '@wbx/audit';
import { Event, IngestClient, type Receipt } from '@wbx/proto';
import { uuidV7, validateEvent, type ValidEvent } from '@wbx/schema';
import { verifyPresentation, type VerifiedEvent } from '@wbx/seal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx } from '@wbx/cli';

import { statusDetails, type Gateway } from '@wbx/gateway';
import { certSha256, makeTestPki, startFederation, type Federation, type TestPki } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';
import { exchangeClients, match, query, type Clients } from '../support/exchange-client.js';
import { submitAll } from '../support/submit.js';

// Issue 16 (1): MK corrects one crossing it shared with RS and AL (three persons' citizenship) and
// withdraws another. AL is offline while MK does so. Both recipients apply each change — the corrected
// record replaces the old one in their inbox, the withdrawn one is deleted, each notice is kept — AL
// once it is back; MK's Query and Match answer with the corrected event and never the withdrawn one;
// RS's aggregates are re-issued as a new vintage; MK's audit lists each notification and acknowledgement.

const HOUR = 3_600_000;
const PURPOSE = 'border-management';

let pki: TestPki;
let fed: Federation;
let mk: Gateway;
let rs: Gateway;
let al: Gateway;
let rsAtMk: Clients;
const subjects = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
let toWithdraw: ValidEvent;
let toCorrect: ValidEvent;
let others: ValidEvent[];
let correctionId: string;
/** RS's keyed reference of the first person of each crossing, before the changes. */
let rsRefs: Map<string, string>;
let withdrawalId: string;

function valid(json: unknown): ValidEvent {
  const r = validateEvent(json);
  if (!r.ok) throw new Error(`invalid test event: ${JSON.stringify(r.violations)}`);
  return r.event;
}

let n = 0;
const at = Date.UTC(2023, 8, 4, 3, 0, 0);
function crossing(citizenship: string, subjectRef?: string): ValidEvent {
  n += 1;
  const person = (i: number) => ({
    ...(i === 0 && subjectRef !== undefined ? { subjectRef } : {}),
    citizenship,
    sex: 'M',
    ageBand: '18-34',
  });
  return valid({
    eventId: uuidV7(at + n * 60_000),
    origin: 'MK',
    type: 'crossing.irregular',
    schemaVersion: 1,
    occurredAt: new Date(at + n * 60_000).toISOString(),
    recordedAt: new Date(at + n * 60_000 + 1_000).toISOString(),
    crossingIrregular: {
      borderSection: 'MK-GR/Gevgelija',
      routeSegment: 'GR-MK',
      direction: 'entry',
      persons: [person(0), person(1), person(2)],
      detectionMethod: 'patrol',
    },
  });
}

function change(type: 'record.correction' | 'record.withdrawal', body: Record<string, unknown>): ValidEvent {
  const now = Date.now();
  return valid({
    eventId: uuidV7(now),
    origin: 'MK',
    type,
    schemaVersion: 1,
    occurredAt: new Date(now - 1_000).toISOString(),
    recordedAt: new Date(now - 1_000).toISOString(),
    ...(type === 'record.correction' ? { recordCorrection: body } : { recordWithdrawal: body }),
  });
}

async function submitError(g: Gateway, event: ValidEvent): Promise<ServiceError> {
  const client = new IngestClient(g.grpcAddress, credentials.createInsecure());
  try {
    await new Promise<Receipt>((resolve, reject) =>
      client.submit(Event.fromJSON(event), new Metadata(), { deadline: Date.now() + 10_000 }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
  } catch (e) {
    return e as ServiceError;
  } finally {
    client.close();
  }
  throw new Error('Submit succeeded; expected it to fail');
}

/** What `g`'s WBX_INBOX holds now, verified as the recipient verifies it, with each message's subject. */
async function inbox(g: Gateway): Promise<{ subject: string; v: VerifiedEvent }[]> {
  const jsm = await jetstreamManager(g.nats);
  const info = await jsm.streams.info('WBX_INBOX');
  const out: { subject: string; v: VerifiedEvent }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage('WBX_INBOX', { seq }).catch(() => null);
    if (m !== null)
      out.push({ subject: m.subject, v: verifyPresentation(m.string(), { manifest: g.manifest }) });
  }
  return out;
}

const records = (held: { v: VerifiedEvent }[], eventId: string) =>
  held.filter((h) => h.v.eventId === eventId && h.v.type === 'crossing.irregular').map((h) => h.v);

const citizenships = (v: VerifiedEvent | undefined) =>
  ((v?.claims.persons ?? []) as { citizenship?: string }[]).map((p) => p.citizenship);

/** Whether `g` has applied both changes: the withdrawn record gone, the corrected one in place. */
async function applied(g: Gateway): Promise<{ subject: string; v: VerifiedEvent }[] | undefined> {
  const held = await inbox(g);
  const corrected = records(held, toCorrect.eventId);
  const done =
    records(held, toWithdraw.eventId).length === 0 &&
    corrected.length === 1 &&
    citizenships(corrected[0]).every((c) => c === 'IRQ') &&
    held.some((h) => h.v.eventId === withdrawalId) &&
    held.some((h) => h.v.eventId === correctionId);
  return done ? held : undefined;
}

async function auditEntries(jsm: JetStreamManager): Promise<DisclosureEntry[]> {
  const info = await jsm.streams.info('WBX_AUDIT');
  const out: DisclosureEntry[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('WBX_AUDIT', { seq }).catch(() => null);
    if (m === null) continue;
    const e = decodeAuditEntry(m.data);
    if (e.kind === 'disclosure') out.push(e);
  }
  return out;
}

beforeAll(async () => {
  pki = await makeTestPki();
  const rsCert = await pki.issueClient('RS');
  fed = await startFederation(['MK', 'RS', 'AL'], { RS: [await certSha256(rsCert.cert)] });
  const validity = {
    purposes: [PURPOSE],
    legalBasis: 'Test agreement',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
  };
  await fed.agree({
    id: 'MK-RS-C',
    provider: 'MK',
    recipient: 'RS',
    ...validity,
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'records',
        fields: ['occurredAt', 'persons.citizenship', 'persons.subjectRef'],
        retentionDays: 30,
      },
      {
        types: ['crossing.irregular'],
        mode: 'aggregate',
        dimensions: ['persons.citizenship'],
        period: 'month',
        minCell: 3,
        retentionDays: 30,
      },
    ],
  });
  await fed.agree({
    id: 'MK-AL-C',
    provider: 'MK',
    recipient: 'AL',
    ...validity,
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'records',
        fields: ['occurredAt', 'routeSegment', 'persons'],
        retentionDays: 30,
      },
    ],
  });
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
  toWithdraw = crossing('SYR', subjects[0]);
  toCorrect = crossing('AFG', subjects[1]);
  others = [crossing('TUR'), crossing('TUR'), crossing('TUR')];
  await submitAll(mk, [toWithdraw, toCorrect, ...others]);
  for (const [name, g] of [
    ['RS', rs],
    ['AL', al],
  ] as const) {
    await until(
      `${name} holds the five crossings`,
      async () =>
        (await inbox(g)).filter((h) => h.v.type === 'crossing.irregular').length === 5 ? true : undefined,
      60_000,
    );
  }
  rsRefs = new Map(
    (await inbox(rs)).map((h) => [
      h.v.eventId,
      ((h.v.claims.persons ?? []) as { subjectRef?: string }[])[0]?.subjectRef ?? '',
    ]),
  );
  await until(
    'RS holds the first vintage of September',
    async () => ((await inbox(rs)).some((h) => h.v.type === 'stats.aggregate') ? true : undefined),
    60_000,
  );
  // AL goes offline; MK corrects one crossing and withdraws another meanwhile.
  await al.stop();
  // Both through the CLI, as an operator would: `wbx correct` with the corrected event, `wbx withdraw`.
  const correctedFile = join(fed.dir, 'corrected.json');
  await writeFile(
    correctedFile,
    JSON.stringify({
      ...toCorrect,
      crossingIrregular: {
        ...toCorrect.crossingIrregular,
        persons: toCorrect.crossingIrregular?.persons.map((p) => ({ ...p, citizenship: 'IRQ' })),
      },
    }),
  );
  const gateway = ['--gateway', mk.grpcAddress, '--insecure', '--event'];
  const corrected = await wbx(
    [
      'correct',
      ...gateway,
      toCorrect.eventId,
      '--reason',
      'wrong-person-attributes',
      '--file',
      correctedFile,
    ],
    { now: new Date() },
  );
  expect(corrected.stderr).toBe('');
  const withdrawn = await wbx(
    ['withdraw', ...gateway, toWithdraw.eventId, '--reason', 'recorded-in-error', '--origin', 'MK'],
    { now: new Date() },
  );
  expect(withdrawn.code).toBe(0);
  correctionId = (JSON.parse(corrected.stdout) as { eventId: string }).eventId;
  withdrawalId = (JSON.parse(withdrawn.stdout) as { eventId: string }).eventId;
  rsAtMk = await exchangeClients(pki, mk.exchangeAddress ?? '', rsCert);
}, 180_000);

afterAll(async () => {
  rsAtMk.close();
  await fed[Symbol.asyncDispose]();
  await pki[Symbol.asyncDispose]();
});

describe('corrections and withdrawals', () => {
  it('reach RS: the corrected record replaces the old one, the withdrawn one is gone, both notices kept', async () => {
    const held = await until('RS applied both changes', () => applied(rs), 60_000);
    const notices = held.filter((h) => h.v.type.startsWith('record.'));
    expect(notices.map((h) => h.v.type).sort()).toEqual(['record.correction', 'record.withdrawal']);
    for (const { v } of notices) {
      // Only the original's id and the reason: the corrected content travels as a record of its own.
      expect(v.disclosed).toEqual(['occurredAt', 'originalEventId', 'reason', 'recordedAt']);
      expect(v.issuer).toBe('MK');
    }
    expect(notices.find((h) => h.v.eventId === withdrawalId)?.v.claims).toMatchObject({
      originalEventId: toWithdraw.eventId,
      reason: 'recorded-in-error',
    });
    // The corrected record: RS's fields only, its reference keyed for RS's agreement, not MK's own.
    const [corrected] = records(held, toCorrect.eventId);
    expect(corrected?.disclosed).not.toContain('routeSegment');
    expect(corrected?.refAgreement).toBe('MK-RS-C');
    const refs = ((corrected?.claims.persons ?? []) as { subjectRef?: string }[]).map((p) => p.subjectRef);
    expect(refs[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(refs[0]).not.toBe(subjects[1]);
  });

  it('reach AL, offline during the changes, once it is back', async () => {
    al = await fed.start('AL', { receiveFrom: [mk] });
    const held = await until('AL applied both changes', () => applied(al), 60_000);
    const [corrected] = records(held, toCorrect.eventId);
    // AL's agreement grants the route segment and persons whole: so does the corrected record.
    expect(corrected?.claims.routeSegment).toBe('GR-MK');
    expect(corrected?.refAgreement).toBe('MK-AL-C');
    expect(held.filter((h) => h.v.type === 'crossing.irregular')).toHaveLength(4);
  });

  it('make MK’s Query answer with the corrected event and never the withdrawn one', async () => {
    const { events } = await query(rsAtMk.exchange, {
      agreementId: 'MK-RS-C',
      purpose: PURPOSE,
      types: ['crossing.irregular'],
    });
    const ids = events.map((e) => e.eventId);
    expect(ids).not.toContain(toWithdraw.eventId);
    expect(ids).toContain(toCorrect.eventId);
    expect(ids).toHaveLength(4);
    const answer = events.find((e) => e.eventId === toCorrect.eventId);
    const v = verifyPresentation(answer?.presentation ?? '', { manifest: mk.manifest });
    expect(citizenships(v)).toEqual(['IRQ', 'IRQ', 'IRQ']);
  });

  it('make MK’s Match hit the corrected event once and never the withdrawn one', async () => {
    const withdrawnRef = rsRefs.get(toWithdraw.eventId) ?? '';
    const correctedRef = rsRefs.get(toCorrect.eventId) ?? '';
    expect(withdrawnRef).toMatch(/^[0-9a-f]{64}$/);
    const res = await match(rsAtMk.exchange, {
      agreementId: 'MK-RS-C',
      purpose: PURPOSE,
      subjectRefs: [withdrawnRef, correctedRef],
    });
    expect(res.hits.map((h) => h.subjectRef)).toEqual([correctedRef]);
    expect(res.hits[0]?.events.map((e) => e.eventId)).toEqual([toCorrect.eventId]);
  });

  it('re-issue RS’s aggregates as a new vintage without the withdrawn and with the corrected persons', async () => {
    const cells = await until(
      'RS holds a vintage with both changes',
      async () => {
        const vintages = (await inbox(rs)).filter((h) => h.v.type === 'stats.aggregate');
        const last = vintages.at(-1)?.v.claims.cells as { values: string[]; count: number }[];
        const counts = new Map(last.map((c) => [c.values[0], c.count]));
        return vintages.length >= 2 && counts.get('IRQ') === 3 && !counts.get('SYR') ? counts : undefined;
      },
      60_000,
    );
    expect(cells.get('IRQ')).toBe(3);
    expect(cells.get('TUR')).toBe(9);
    expect(cells.get('AFG') ?? 0).toBe(0);
    expect(cells.get('SYR') ?? 0).toBe(0);
  });

  it('audits each notification and each recipient’s acknowledgement at MK', async () => {
    const jsm = await jetstreamManager(mk.nats);
    const entries = await until(
      'MK audited both recipients’ acknowledgements',
      async () => {
        const all = await auditEntries(jsm);
        return all.filter((e) => e.mode === 'ack').length >= 4 ? all : undefined;
      },
      60_000,
    );
    for (const recipient of ['RS', 'AL']) {
      for (const [id, type] of [
        [correctionId, 'record.correction'],
        [withdrawalId, 'record.withdrawal'],
      ] as const) {
        const notified = entries.filter(
          (e) =>
            e.mode === 'records' && e.recipient === recipient && (e.eventIds ?? [e.eventId]).includes(id),
        );
        expect(notified.map((e) => e.eventType)).toEqual([type]);
        const acked = entries.filter(
          (e) => e.mode === 'ack' && e.recipient === recipient && e.eventId === id,
        );
        expect(acked).toHaveLength(1);
        expect(acked[0]?.seq).toBeGreaterThan(notified[0]?.seq ?? Infinity);
      }
    }
  });

  it('withdraws an event at RS that MK withdraws as soon as it was stored', async () => {
    const fleeting = crossing('TUR');
    const withdrawal = change('record.withdrawal', {
      originalEventId: fleeting.eventId,
      reason: 'duplicate',
    });
    await submitAll(mk, [fleeting]);
    await submitAll(mk, [withdrawal]);
    await until(
      'RS applied the withdrawal',
      async () => {
        const held = await inbox(rs);
        return held.some((h) => h.v.eventId === withdrawal.eventId) &&
          records(held, fleeting.eventId).length === 0
          ? true
          : undefined;
      },
      60_000,
    );
  });

  it('refuses changes of unknown, withdrawn or retyped events with their codes', async () => {
    const codes = async (event: ValidEvent) =>
      statusDetails(await submitError(mk, event)).violations.map((v) => v.reason);
    const unknown = await wbx(
      ['withdraw', '--gateway', mk.grpcAddress, '--insecure', '--origin', 'MK'].concat([
        '--event',
        uuidV7(at),
        '--reason',
        'duplicate',
      ]),
      { now: new Date() },
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('recordWithdrawal.originalEventId: ORIGINAL_NOT_FOUND');
    const again = change('record.withdrawal', { originalEventId: toWithdraw.eventId, reason: 'duplicate' });
    expect(await codes(again)).toEqual(['ORIGINAL_WITHDRAWN']);
    const [other] = others;
    const retyped = change('record.correction', {
      originalEventId: other?.eventId,
      reason: 'other',
      corrected: {
        eventId: other?.eventId,
        origin: 'MK',
        type: 'smuggling.incident',
        schemaVersion: 1,
        occurredAt: other?.occurredAt,
        recordedAt: other?.recordedAt,
        smugglingIncident: {
          routeSegment: 'GR-MK',
          migrantsCount: 3,
          modusOperandi: 'on-foot-guided',
          caseRef: 'MK-2023-1',
        },
      },
    });
    expect(await codes(retyped)).toEqual(['ORIGINAL_TYPE_MISMATCH']);
  });
});
