import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { decodeAuditEntry, readAudit, type AuditEntry } from '@wbx/audit';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbx } from '@wbx/cli';
import type { Gateway } from '@wbx/gateway';
import {
  certSha256,
  makeTestPki,
  startFederation,
  type CertFiles,
  type Federation,
  type TestPki,
} from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';
import { exchangeClients, match, query, type Clients } from '../support/exchange-client.js';
import { submitAll } from '../support/submit.js';

const HOUR = 3_600_000;
const FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship', 'persons.subjectRef'];

let pki: TestPki;
let fed: Federation;
let mk: Gateway;
let rs: Gateway;
let rsAtMk: Clients;
let crossings: ValidEvent[];
/** The subject the report is about, and the events (ids) that mention it. */
const subject = randomBytes(32).toString('hex');
/** The subject's reference keyed for MK-RS-S: what RS received, on its stream and through Exchange. */
let keyedSubject: string;
let about: string[];

interface Row {
  chainSeq: number;
  eventId: string;
  mode: string;
  recipient: string;
  agreementId: string;
  purpose?: string;
  paths: string[];
}

const nkey = (g: Gateway): string[] => ['--nkey', join(g.accessDir ?? '', 'gateway.nkey')];
const report = (g: Gateway, ...more: string[]) =>
  wbx(['audit', 'report', '--nats', g.natsUrl, '--partner', g.config.partner, ...nkey(g), ...more], {
    now: new Date(),
  });
const lines = (stdout: string): unknown[] =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);

async function auditEntries(g: Gateway): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const m of readAudit(await jetstreamManager(g.nats), g.config.partner)) {
    out.push(decodeAuditEntry(m.data));
  }
  return out;
}

beforeAll(async () => {
  pki = await makeTestPki();
  const certs: Record<string, CertFiles> = {};
  const pins: Record<string, string[]> = {};
  for (const p of ['MK', 'RS']) {
    const issued = await pki.issueClient(p);
    certs[p] = issued;
    pins[p] = [await certSha256(issued.cert)];
  }
  fed = await startFederation(['MK', 'RS'], pins);
  await fed.agree({
    id: 'MK-RS-S',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['risk-analysis'],
    legalBasis: 'Test agreement',
    validFrom: new Date(Date.now() - HOUR).toISOString(),
    validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
    terms: [{ types: ['crossing.irregular'], mode: 'records', fields: FIELDS, retentionDays: 30 }],
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
  const generated = [
    ...generateEvents({
      partner: 'MK',
      count: 120,
      seed: 'audit-subject',
      from: new Date('2023-09-01'),
      to: new Date('2023-09-08'),
    }),
  ];
  // Two crossings are about the subject (a person of each carries its reference); the rest are not.
  let marked = 0;
  const events = generated.map((e) => {
    const json = JSON.parse(JSON.stringify(e)) as {
      crossingIrregular?: { persons: { subjectRef?: string }[] };
    };
    const person = json.crossingIrregular?.persons[0];
    if (person !== undefined && marked < 2) {
      person.subjectRef = subject;
      marked += 1;
    }
    const r = validateEvent(json);
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
  crossings = events.filter((e) => e.type === 'crossing.irregular');
  about = crossings
    .filter((e) => e.crossingIrregular?.persons.some((p) => p.subjectRef === subject))
    .map((e) => e.eventId);
  expect(about).toHaveLength(2);
  await submitAll(mk, events);
  await until('RS has received every crossing', async () =>
    (await (await jetstreamManager(rs.nats)).streams.info('WBX_INBOX')).state.messages >= crossings.length
      ? true
      : undefined,
  );
  // RS also asks through Exchange: a Query answer and a Match hit on the subject's keyed reference.
  rsAtMk = await exchangeClients(pki, mk.exchangeAddress ?? '', certs.RS as CertFiles);
  const { events: answered } = await query(rsAtMk.exchange, {
    agreementId: 'MK-RS-S',
    purpose: 'risk-analysis',
  });
  const keyed = answered.find((e) => e.eventId === about[0])?.subjectRefs[0] ?? '';
  expect(keyed).toMatch(/^[0-9a-f]{64}$/);
  keyedSubject = keyed;
  const hits = await match(rsAtMk.exchange, {
    agreementId: 'MK-RS-S',
    purpose: 'risk-analysis',
    subjectRefs: [keyed],
  });
  expect(hits.hits).toHaveLength(1);
}, 120_000);

afterAll(async () => {
  rsAtMk.close();
  await fed[Symbol.asyncDispose]();
  await pki[Symbol.asyncDispose]();
});

describe('wbx audit report --subject', () => {
  it("lists every disclosure of the subject's events the audit chain holds — shares, Query, Match — and nothing else", async () => {
    const run = await report(mk, '--subject', subject, '--manifest', fed.identity.manifestFile);
    expect(run.stderr).not.toContain('wbx:');
    expect(run.code).toBe(0);
    const rows = lines(run.stdout) as Row[];

    // What the chain holds: every disclosure entry naming one of the subject's events, per event.
    const expected = (await auditEntries(mk)).flatMap((e) =>
      e.kind !== 'disclosure' || e.mode === 'denied'
        ? []
        : (e.eventIds ?? [e.eventId])
            .filter((id) => about.includes(id))
            .map((id) => `${e.seq}/${id}/${e.mode}/${e.recipient}/${e.agreementId}/${e.paths.join(',')}`),
    );
    const got = rows.map(
      (r) => `${r.chainSeq}/${r.eventId}/${r.mode}/${r.recipient}/${r.agreementId}/${r.paths.join(',')}`,
    );
    expect(got.sort()).toEqual(expected.sort());
    expect(new Set(rows.map((r) => r.mode))).toEqual(new Set(['records', 'query', 'match']));
    for (const id of about) {
      expect(rows.filter((r) => r.eventId === id && r.mode === 'records')).toHaveLength(1);
      expect(rows.filter((r) => r.eventId === id && r.mode === 'query')).toHaveLength(1);
    }
    expect(rows.every((r) => r.purpose === 'risk-analysis' || r.mode === 'records')).toBe(true);

    // No other subject's event, nor anyone's reference, appears in the report.
    const others = crossings.filter((e) => !about.includes(e.eventId));
    for (const e of others) expect(run.stdout).not.toContain(e.eventId);
    const refs = others.flatMap((e) => e.crossingIrregular?.persons.map((p) => p.subjectRef) ?? []);
    for (const r of refs) if (r !== undefined) expect(run.stdout).not.toContain(r);

    const table = await report(
      mk,
      '--subject',
      subject,
      '--manifest',
      fed.identity.manifestFile,
      '--format',
      'table',
    );
    expect(table.code).toBe(0);
    const [header, , ...body] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^AT\s+RECIPIENT\s+AGREEMENT\s+PURPOSE\s+MODE\s+TYPE\s+EVENT\s+FIELDS$/);
    expect(body).toHaveLength(rows.length);
  });

  it('lists what the recipient received about the subject, under which agreement and purpose', async () => {
    // RS holds the subject under its reference keyed for the agreement, never under MK's own.
    const own = await report(rs, '--subject', subject, '--received', '--manifest', fed.identity.manifestFile);
    expect(own.code).toBe(0);
    expect(own.stdout).toBe('');
    const run = await report(
      rs,
      '--subject',
      keyedSubject,
      '--received',
      '--manifest',
      fed.identity.manifestFile,
      '--agreements',
      fed.agreementsDir('RS'),
    );
    expect(run.code).toBe(0);
    const rows = lines(run.stdout) as {
      origin: string;
      eventId: string;
      agreementIds: string[];
      purposes: string[];
      paths: string[];
    }[];
    expect(rows.map((r) => r.eventId).sort()).toEqual([...about].sort());
    for (const r of rows) {
      expect(r).toMatchObject({ origin: 'MK', agreementIds: ['MK-RS-S'], purposes: ['risk-analysis'] });
      expect(r.paths).toContain('persons.subjectRef');
    }
  });

  it('refuses a malformed subject reference and, once the chain is broken, reports nothing (exit 1)', async () => {
    const bad = await report(mk, '--subject', 'XYZ', '--manifest', fed.identity.manifestFile);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('wbx: USAGE: --subject');
    const noManifest = await report(mk, '--subject', subject);
    expect(noManifest.code).toBe(2);

    // Junk appended to MK's chain: the chain no longer verifies, so no row comes out.
    await jetstream(mk.nats).publish('wbx.audit.MK', 'not an audit entry');
    const broken = await report(mk, '--subject', subject, '--manifest', fed.identity.manifestFile);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/wbx: AUDIT_CHAIN_BROKEN: .*MALFORMED/);
    expect(broken.stdout).toBe('');
  });
});
