import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  ExchangeClient,
  type MatchResponse,
  type QueryEvent,
  QueryRequest,
  type ReadmissionCase,
} from '@wbx/proto';
import type { ManifestBody } from '@wbx/registry';
import { uuidV7, validateEvent } from '@wbx/schema';
import { createSealer, verifyPresentation } from '@wbx/seal';
import type { KeyObject } from 'node:crypto';

import { EVENTS_STREAM, shareStream, shareSubject, type Gateway } from '@wbx/gateway';
import type { DemoPki } from '@wbx/pki';
import { EXCHANGE_CHANNEL_OPTIONS, queryPage, unary } from './exchange-client.js';
import { write, type CliIo } from './io.js';
import { renderTable } from './table.js';

export interface ExchangeDemoContext {
  readonly pki: DemoPki;
  readonly manifest: ManifestBody;
  readonly mk: Gateway;
  readonly al: Gateway;
  /** Signs an agreement body with both parties' keys and puts it into both directories. */
  readonly agree: (body: Record<string, unknown>) => Promise<void>;
  readonly mkKey: { readonly kid: string; readonly key: KeyObject };
  /** The demo day, [from, to). */
  readonly day: { readonly from: string; readonly to: string };
}

async function client(ctx: ExchangeDemoContext, address: string, who: string): Promise<ExchangeClient> {
  const cert = ctx.pki.clients.get(who);
  if (cert === undefined) throw new Error(`no demo certificate for ${who}`);
  const [ca, c, k] = await Promise.all([readFile(ctx.pki.ca), readFile(cert.cert), readFile(cert.key)]);
  // The demo dials 127.0.0.1; the name checked against the server certificate is its DNS name.
  return new ExchangeClient(address, credentials.createSsl(ca, k, c), {
    ...EXCHANGE_CHANNEL_OPTIONS,
    'grpc.ssl_target_name_override': 'localhost',
  });
}

async function queryAll(
  c: ExchangeClient,
  req: Partial<QueryRequest>,
): Promise<{ events: QueryEvent[]; pages: number }> {
  const events: QueryEvent[] = [];
  const request = QueryRequest.fromPartial(req);
  for (let pages = 1; ; pages++) {
    const end = await queryPage(c, request, (e) => {
      events.push(e);
      return Promise.resolve();
    });
    if (!end.more) return { events, pages };
    request.resumeToken = end.resumeToken;
  }
}

/**
 * The Exchange part of the demo, over mutual TLS with certificates pinned in the manifest: RS queries
 * MK's day under a new agreement, runs a hit/no-hit on keyed subject references, and MK sends AL a
 * readmission request that AL answers.
 */
export async function exchangeDemo(io: CliIo, ctx: ExchangeDemoContext): Promise<boolean> {
  const { mk, al } = ctx;
  const now = new Date();
  const validUntil = new Date(now.getTime() + 30 * 86_400_000).toISOString();
  await ctx.agree({
    id: 'MK-RS-2026-002',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'Skopje Declaration (2022), protocol on queries and hit/no-hit',
    validFrom: new Date(now.getTime() - 3_600_000).toISOString(),
    validUntil,
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'records',
        fields: ['occurredAt', 'routeSegment', 'persons.citizenship', 'persons.subjectRef'],
        retentionDays: 30,
      },
    ],
  });
  for (let i = 0; i < 50 && !mk.agreements.some((a) => a.body.id === 'MK-RS-2026-002'); i++) await sleep(100);
  const rsAtMk = await client(ctx, mk.exchangeAddress ?? '', 'RS');
  const mkAtAl = await client(ctx, al.exchangeAddress ?? '', 'MK');
  const alAtAl = await client(ctx, al.exchangeAddress ?? '', 'AL');
  try {
    const t0 = performance.now();
    const { events, pages } = await queryAll(rsAtMk, {
      agreementId: 'MK-RS-2026-002',
      purpose: 'border-management',
      from: ctx.day.from,
      to: ctx.day.to,
      pageSize: 100,
    });
    const ms = Math.round(performance.now() - t0);
    const seen = new Set<string>();
    let verified = 0;
    for (const e of events) {
      const v = verifyPresentation(e.presentation, { manifest: ctx.manifest });
      verified += 1;
      for (const p of v.disclosed) seen.add(p);
    }
    const refs = events.flatMap((e) => e.subjectRefs.filter((r) => r !== ''));
    await write(
      io.stdout,
      `\nExchange over mTLS (client certificates pinned in the manifest)\nRS queries MK's day ${ctx.day.from.slice(0, 10)} under MK-RS-2026-002: ${events.length} crossings in ${pages} pages of ≤100 (${ms} ms), ${verified} verified; fields: ${[...seen].sort().join(', ')}; ${refs.length} subject references, keyed for this agreement\n`,
    );

    const probe = [
      ...[...new Set(refs)].slice(0, 3),
      randomBytes(32).toString('hex'),
      randomBytes(32).toString('hex'),
    ];
    const res = await unary<MatchResponse>((cb) =>
      rsAtMk.match({ agreementId: 'MK-RS-2026-002', purpose: 'border-management', subjectRefs: probe }, cb),
    );
    const hits = new Map(res.hits.map((h) => [h.subjectRef, h.events]));
    const rows = probe.map((r) => [
      `${r.slice(0, 12)}…`,
      hits.has(r) ? 'hit' : 'no hit',
      (hits.get(r) ?? []).map((e) => `${e.type} ${e.eventId.slice(0, 8)}…`).join(', '),
    ]);
    await write(
      io.stdout,
      `RS runs a hit/no-hit on 5 references (3 from the query, 2 unknown):\n${renderTable(['reference', 'result', 'events (id and type only)'], rows)}\n`,
    );

    const requestId = uuidV7(now.getTime());
    const checked = validateEvent({
      eventId: requestId,
      origin: 'MK',
      type: 'readmission.request',
      schemaVersion: 1,
      occurredAt: now.toISOString(),
      recordedAt: now.toISOString(),
      readmissionRequest: {
        requestRef: 'MK-RA-2026-000001',
        requestingState: 'MK',
        requestedState: 'AL',
        person: {
          subjectRef: randomBytes(32).toString('hex'),
          citizenship: 'ALB',
          sex: 'M',
          ageBand: '18-34',
          unaccompaniedMinor: false,
        },
        evidence: ['travel-document-copy', 'entry-stamp'],
        deadline: validUntil,
      },
    });
    if (!checked.ok) return false;
    const sealedRequest = createSealer({ issuer: 'MK', kid: ctx.mkKey.kid, privateKey: ctx.mkKey.key }).seal(
      checked.event,
      { now },
    );
    const submitted = await unary<ReadmissionCase>((cb) =>
      mkAtAl.submitReadmissionRequest(
        { agreementId: 'AL-MK-2026-RA', purpose: 'return-readmission', sealedRequest },
        cb,
      ),
    );
    const answered = await unary<ReadmissionCase>((cb) =>
      alAtAl.answerReadmissionRequest(
        {
          agreementId: 'AL-MK-2026-RA',
          purpose: 'return-readmission',
          requestId,
          outcome: 'accepted',
          reason: '',
        },
        cb,
      ),
    );
    const status = await unary<ReadmissionCase>((cb) =>
      mkAtAl.getReadmissionRequest(
        { agreementId: 'AL-MK-2026-RA', purpose: 'return-readmission', requestId },
        cb,
      ),
    );
    const response = verifyPresentation(status.sealedResponse, { manifest: ctx.manifest });
    await write(
      io.stdout,
      `Readmission MK → AL under AL-MK-2026-RA: request ${submitted.requestRef} ${submitted.state}, deadline ${submitted.deadline ?? '-'} (from the agreement: 288 h); AL answers ${answered.state}; MK reads ${status.state} and verifies AL's sealed response (${response.issuer}, outcome ${String(response.claims.outcome)})\n`,
    );
    // Both sides keep every step: AL the request (its case) and its sealed answer (WBX_EVENTS), from where
    // the agreement's records term shares the answer to MK like any event.
    const alm = await jetstreamManager(al.nats);
    let shared = false;
    for (let i = 0; i < 50 && !shared; i++) {
      shared =
        (await alm.streams
          .getMessage(shareStream('MK'), { last_by_subj: shareSubject('MK', 'AL', 'readmission.response') })
          .catch(() => null)) !== null;
      if (!shared) await sleep(100);
    }
    await write(
      io.stdout,
      `AL keeps the request (its case) and its sealed answer (${EVENTS_STREAM}); the answer ${shared ? `waits in ${shareStream('MK')} for MK to fetch` : 'was NOT shared to MK'}, under the agreement's records term\n`,
    );
    return (
      shared &&
      events.length > 0 &&
      res.hits.length === Math.min(3, new Set(refs).size) &&
      status.state === 'accepted' &&
      response.claims.outcome === 'accepted'
    );
  } finally {
    for (const c of [rsAtMk, mkAtAl, alAtAl]) c.close();
  }
}
