import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { draftAndSign, revokeAgreement, type SignedAgreement } from '@wbx/agreements';
import { readAudit, verifyAuditChain } from '@wbx/audit';
import { Event, IngestClient, type Receipt } from '@wbx/proto';
import { foundFederation, verifyRootManifest, writeFederation, type SignedManifest } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { pino } from 'pino';

import { loadGatewayConfig } from '@wbx/gateway';
import { EVENTS_STREAM, Gateway, INBOX_STREAM, shareStream } from '@wbx/gateway';
import { changesDemo } from './demo-changes.js';
import { dashboardDemo } from './demo-dashboard.js';
import { exchangeDemo } from './demo-exchange.js';
import { makeDemoPki } from '@wbx/pki';
import { write, type CliIo } from './io.js';
import { renderTable } from './table.js';

const PARTNERS = ['MK', 'RS', 'AL', 'FRONTEX'] as const;
const NAMES: Record<string, string> = {
  MK: 'North Macedonia',
  RS: 'Serbia',
  AL: 'Albania',
  FRONTEX: 'Frontex',
};
export const RS_FIELDS = [
  'occurredAt',
  'routeSegment',
  'direction',
  'persons.citizenship',
  'persons.ageBand',
  'migrantsCount',
  'modusOperandi',
];

async function until(probe: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await sleep(100);
  }
  return false;
}

/** Submits events over gRPC with up to 256 in flight; counts receipts, duplicates and rejections. */
async function ingest(
  address: string,
  events: readonly ValidEvent[],
): Promise<{ accepted: number; duplicates: number; rejected: number; ms: number }> {
  const client = new IngestClient(address, credentials.createInsecure());
  const started = performance.now();
  const counts = { accepted: 0, duplicates: 0, rejected: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < events.length) {
      const event = events[next++];
      if (event === undefined) return;
      const receipt = await new Promise<Receipt | undefined>((resolve) =>
        client.submit(Event.fromJSON(event), (e, r) => resolve(e ? undefined : r)),
      );
      if (receipt === undefined) counts.rejected += 1;
      else if (receipt.duplicate) counts.duplicates += 1;
      else counts.accepted += 1;
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  client.close();
  return { ...counts, ms: performance.now() - started };
}

async function messages(gateway: Gateway, stream: string): Promise<string[]> {
  const jsm = await jetstreamManager(gateway.nats);
  const { state } = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m !== null) out.push(m.string());
  }
  return out;
}

/**
 * The federation part of the demo: four gateways (MK, RS, AL and an analytics node, FRONTEX), each with
 * its embedded nats-server; every partner ingests its day over gRPC; MK shares records with RS and
 * aggregates with AL (weekly) and FRONTEX (monthly) under signed agreements; RS revokes nothing, MK
 * revokes RS's agreement and delivery stops; the audit chain verifies.
 */
export async function federationDemo(
  io: CliIo,
  days: ReadonlyMap<string, readonly ValidEvent[]>,
  options: { serve?: boolean } = {},
): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'wbx-demo-'));
  const gateways = new Map<string, Gateway>();
  try {
    const now = new Date();
    const validFrom = new Date(now.getTime() - 3_600_000);
    await mkdir(join(dir, 'pki'));
    const pki = await makeDemoPki(join(dir, 'pki'), ['MK', 'RS', 'AL']);
    const founders = PARTNERS.map((p) => ({
      id: p,
      name: NAMES[p] ?? p,
      roles: p === 'FRONTEX' ? (['analyst'] as const) : (['origin', 'recipient'] as const),
      tlsCertSha256: pki.clients.get(p) === undefined ? [] : [pki.clients.get(p)?.sha256 ?? ''],
    }));
    const federation = await writeFederation(dir, await foundFederation(founders, 2, validFrom));

    const until30 = new Date(now.getTime() + 30 * 86_400_000).toISOString();
    const base = {
      provider: 'MK',
      legalBasis: 'Skopje Declaration (2022), bilateral protocol',
      validFrom: validFrom.toISOString(),
      validUntil: until30,
    };
    const bodies = [
      {
        ...base,
        id: 'MK-RS-2026-001',
        recipient: 'RS',
        purposes: ['border-management', 'anti-smuggling'],
        terms: [
          {
            types: ['crossing.irregular', 'smuggling.incident'],
            mode: 'records',
            fields: RS_FIELDS,
            retentionDays: 90,
          },
        ],
      },
      {
        ...base,
        id: 'MK-AL-2026-001',
        recipient: 'AL',
        purposes: ['risk-analysis'],
        terms: [
          {
            types: ['crossing.irregular'],
            mode: 'aggregate',
            dimensions: ['routeSegment', 'persons.citizenship'],
            period: 'week',
            minCell: 5,
            retentionDays: 365,
          },
        ],
      },
      {
        ...base,
        id: 'AL-MK-2026-RA',
        provider: 'AL',
        recipient: 'MK',
        purposes: ['return-readmission'],
        readmission: { answerWithinHours: 288 },
        terms: [
          {
            types: ['readmission.response'],
            mode: 'records',
            fields: ['requestRef', 'outcome', 'reason'],
            retentionDays: 365,
          },
        ],
      },
      {
        ...base,
        id: 'MK-FRONTEX-2026-001',
        recipient: 'FRONTEX',
        purposes: ['risk-analysis'],
        terms: [
          {
            types: ['crossing.irregular'],
            mode: 'aggregate',
            dimensions: ['routeSegment', 'persons.ageBand'],
            period: 'month',
            minCell: 5,
            retentionDays: 365,
          },
          {
            // The other WB-RAN indicators: refusals of entry, illegal stay, false documents.
            types: ['entry.refusal', 'stay.illegal', 'document.fraud'],
            mode: 'aggregate',
            dimensions: ['person.citizenship'],
            period: 'month',
            minCell: 5,
            retentionDays: 365,
          },
        ],
      },
    ];
    const signedAgreements = new Map<string, SignedAgreement>();
    const agree = async (body: Record<string, unknown>): Promise<void> => {
      const parties = [String(body.provider), String(body.recipient)];
      const signed = await draftAndSign(
        body,
        parties.map((p) => federation.key(p)),
        new Date(),
      );
      signedAgreements.set(String(body.id), signed);
      for (const party of parties) {
        await mkdir(join(dir, 'agreements', party), { recursive: true });
        await writeFile(
          join(dir, 'agreements', party, `${String(body.id)}.json`),
          JSON.stringify(signed, null, 2),
        );
      }
    };
    for (const body of bodies) await agree(body);
    await write(
      io.stdout,
      `Agreements, each signed by both parties: ${bodies.map((b) => `${b.id} (${b.terms[0]?.mode})`).join(', ')}\n`,
    );

    const log = pino({ level: process.env.WBX_DEMO_LOG ?? 'silent' });
    for (const p of PARTNERS) {
      const mk = gateways.get('MK');
      await mkdir(join(dir, 'agreements', p), { recursive: true });
      const config = await loadGatewayConfig(
        undefined,
        {},
        {
          partner: p,
          key: federation.keyFile(p),
          manifest: federation.manifestFile,
          data: join(dir, 'data', p),
          agreements: join(dir, 'agreements', p),
          receive:
            mk === undefined || p === 'MK'
              ? []
              : [{ partner: 'MK', url: mk.natsUrl, nkeyFile: join(mk.accessDir ?? '', `${p}.nkey`) }],
          'grpc.listen': '127.0.0.1:0',
          'grpc.insecure': true,
          'http.listen': '127.0.0.1:0',
          'share.aggregateGrace': 0,
          'share.aggregateSettle': 1_000,
          'share.flushEvery': 250,
          'share.agreementsPoll': 250,
          'audit.checkpointEntries': 10,
          ...(p === 'MK' || p === 'AL'
            ? {
                'exchange.listen': '127.0.0.1:0',
                'exchange.tls.cert': pki.server.cert,
                'exchange.tls.key': pki.server.key,
                'exchange.tls.clientCa': pki.ca,
              }
            : {}),
        },
      );
      gateways.set(p, await Gateway.start(config, { log, drainMs: 2_000 }));
    }
    const rows: (string | number)[][] = [];
    for (const [p, g] of gateways)
      rows.push([p, g.grpcAddress, g.exchangeAddress ?? '—', g.natsUrl, g.httpAddress]);
    await write(
      io.stdout,
      `\nGateways (each with its own embedded nats-server)\n${renderTable(['partner', 'gRPC Ingest', 'gRPC Exchange (mTLS)', 'NATS', 'health/metrics'], rows)}\n\n`,
    );

    const ingestRows: (string | number)[][] = [];
    for (const [p, events] of days) {
      const g = gateways.get(p);
      if (g === undefined) continue;
      const r = await ingest(g.grpcAddress, events);
      const again = await ingest(g.grpcAddress, events.slice(0, 50));
      const stored = (await (await jetstreamManager(g.nats)).streams.info(EVENTS_STREAM)).state.messages;
      ingestRows.push([p, events.length, r.accepted, r.rejected, again.duplicates, stored, Math.round(r.ms)]);
    }
    await write(
      io.stdout,
      `Ingest over gRPC (validate → seal → JetStream; receipt after the ack)\n${renderTable(['partner', 'events', 'accepted', 'rejected', 're-sent 50: duplicates', EVENTS_STREAM, 'ms'], ingestRows)}\n\n`,
    );

    const mkEvents = days.get('MK') ?? [];
    const forRs = mkEvents.filter((e) => e.type === 'crossing.irregular' || e.type === 'smuggling.incident');
    const rs = gateways.get('RS');
    const al = gateways.get('AL');
    const fx = gateways.get('FRONTEX');
    const mk = gateways.get('MK');
    if (rs === undefined || al === undefined || fx === undefined || mk === undefined) return false;
    const delivered = await until(
      async () => (await messages(rs, INBOX_STREAM)).length >= forRs.length,
      30_000,
    );
    await until(
      async () =>
        (await messages(al, INBOX_STREAM)).length > 0 && (await messages(fx, INBOX_STREAM)).length > 0,
      30_000,
    );
    await sleep(1_500);
    const rsInbox = await messages(rs, INBOX_STREAM);
    const fieldsSeen = new Set<string>();
    for (const t of rsInbox) for (const p of readOwnSealedEvent(t).disclosed) fieldsSeen.add(p);
    const recvRows: (string | number)[][] = [
      ['RS', 'records', rsInbox.length, [...fieldsSeen].sort().join(', ')],
    ];
    for (const [id, g] of [
      ['AL', al],
      ['FRONTEX', fx],
    ] as const) {
      const inbox = (await messages(g, INBOX_STREAM)).map((t) => readOwnSealedEvent(t).claims);
      const cells = inbox.flatMap((c) => c.cells as { count: number; suppressed: boolean }[]);
      const suppressed = cells.filter((c) => c.suppressed).length;
      const periods = inbox.map((c) => String(c.period)).sort();
      recvRows.push([
        id,
        'aggregates',
        inbox.length,
        `periods ${periods[0] ?? '—'}…${periods.at(-1) ?? '—'}; ${cells.length} cells, ${suppressed} suppressed (< 5)`,
      ]);
    }
    await write(
      io.stdout,
      `What each recipient received from MK, verified against the manifest, in its own ${INBOX_STREAM}\n${renderTable(['recipient', 'mode', 'events', 'what'], recvRows)}\n`,
    );
    await write(
      io.stdout,
      `RS never received: subjectRef, borderSection, location, facilitatorSuspected, recordedAt — nor any other event type (${mkEvents.length - forRs.length} MK events withheld)\n\n`,
    );

    const changed = await changesDemo(io, mk, rs, forRs);

    const signed = signedAgreements.get('MK-RS-2026-001');
    const mkKey = federation.key('MK');
    if (signed === undefined) return false;
    const revoked = await revokeAgreement(signed, mkKey.key, mkKey.kid, { at: new Date() });
    const t0 = performance.now();
    await writeFile(join(dir, 'agreements', 'MK', 'MK-RS-2026-001.json'), JSON.stringify(revoked));
    const mkm = await jetstreamManager(mk.nats);
    const purged = await until(
      async () => (await mkm.streams.info(shareStream('RS'))).state.messages === 0,
      5_000,
    );
    const took = Math.round(performance.now() - t0);
    const before = (await messages(rs, INBOX_STREAM)).length;
    const nextDay = [
      ...generateEvents({
        partner: 'MK',
        count: 200,
        seed: 'demo-next-day',
        from: new Date('2023-09-02T00:00:00Z'),
        to: new Date('2023-09-03T00:00:00Z'),
      }),
    ]
      .map((e) => validateEvent(JSON.parse(JSON.stringify(e))))
      .flatMap((r) => (r.ok ? [r.event] : []));
    await ingest(mk.grpcAddress, nextDay);
    await sleep(1_500);
    const after = (await messages(rs, INBOX_STREAM)).length;
    await write(
      io.stdout,
      `MK revokes MK-RS-2026-001: RS's share stream ${purged ? `purged after ${took} ms` : 'NOT purged'} and RS's credentials on MK's NATS removed; MK ingests ${nextDay.length} more events, RS's inbox stays at ${after} (had ${before})\n`,
    );

    const trusted = verifyRootManifest(
      JSON.parse(await readFile(federation.manifestFile, 'utf8')) as SignedManifest,
    );
    const exchanged = await exchangeDemo(io, {
      pki,
      manifest: trusted,
      mk,
      al,
      agree,
      mkKey,
      day: { from: '2023-09-01T00:00:00Z', to: '2023-09-02T00:00:00Z' },
    });
    const chain = await verifyAuditChain(readAudit(mkm, 'MK'), trusted, 'MK');
    await write(
      io.stdout,
      chain.ok
        ? `MK's audit log: ${chain.entries} entries in an unbroken hash chain, ${chain.checkpoints} signed checkpoints (${chain.unsealed} entries after the last)\n`
        : `MK's audit log BROKEN at entry ${chain.firstBroken.seq}\n`,
    );
    const dashboard = await dashboardDemo(io, {
      gateway: fx,
      partner: 'FRONTEX',
      manifest: trusted,
      agreementsDir: join(dir, 'agreements', 'FRONTEX'),
      dir,
      log,
      serve: options.serve === true,
    });
    return delivered && changed && purged && after === before && exchanged && chain.ok && dashboard;
  } finally {
    for (const g of [...gateways.values()].reverse()) await g.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
