import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { partnerPolicy } from '@wbx/agreements';
import type { AuditLog, AuditSink, DisclosureRecord } from '@wbx/audit';
import type { ValidEvent } from '@wbx/schema';
import { verifyPresentation } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LoadedAgreement } from '../../src/agreement-set.js';
import { fixedAgreements } from '../../src/agreements-watcher.js';
import { Aggregator } from '../../src/aggregator.js';
import { Pseudonyms } from '../../src/exchange/pseudonyms.js';
import {
  EVENTS_STREAM,
  eventSubject,
  SHARE_CONSUMER,
  shareStream,
  STATE_BUCKET,
} from '../../src/nats-layout.js';
import { deriveShares } from '../../src/share-derive.js';
import { ShareWorker } from '../../src/share-worker.js';
import type { StreamRefs } from '../../src/stream-refs.js';
import { ensureStream, eventsStreamConfig } from '../../src/streams.js';
import { ShareDerivePool } from '../../src/workers/share-derive-pool.js';
import {
  agreement,
  auditEntries,
  eventsOf,
  messages,
  openAudit,
  partners,
  quiet,
  until,
  type Partners,
} from '../support/fixtures.js';

// The share worker with its presentations derived on worker threads (the built share-derive worker:
// `pnpm -s build` first, as for the tests that run `wbx`).

const RS_FIELDS = ['routeSegment', 'persons.citizenship', 'persons.subjectRef'];
const AGREEMENTS: LoadedAgreement[] = [
  agreement({
    id: 'MK-RS-1',
    provider: 'MK',
    recipient: 'RS',
    terms: [{ types: ['crossing.irregular'], mode: 'records', fields: RS_FIELDS, retentionDays: 30 }],
  }),
];

let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let p: Partners;
let audit: AuditLog;
let dir: string;
let refs: StreamRefs;
let secretFile: string;
const running: { worker: ShareWorker; pool: ShareDerivePool }[] = [];

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  p = await partners(['MK', 'RS']);
  await ensureStream(
    jsm,
    eventsStreamConfig('MK', { maxAge: 0, maxBytes: -1, duplicateWindow: 60_000, replicas: 1 }),
  );
  audit = await openAudit(js, jsm, p);
  dir = await mkdtemp(join(tmpdir(), 'wbx-share-derive-'));
  secretFile = join(dir, 'subject-ref.secret');
  refs = { pseudonyms: await Pseudonyms.open(secretFile), signer: p.signer('MK') };
});

afterEach(async () => {
  for (const { worker, pool } of running.splice(0)) {
    await worker.stop();
    await pool.close();
  }
  await audit.close();
  await nc.close();
  await nats[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

/** MK's share worker deriving on a pool of two threads keyed with the same secret as `refs`. */
async function startWorker(sink: AuditSink = audit): Promise<{ worker: ShareWorker; pool: ShareDerivePool }> {
  const state = await new Kvm(js).create(STATE_BUCKET);
  const log = quiet();
  const aggregator = new Aggregator({ partner: 'MK', js, state, sealer: p.sealer('MK'), audit: sink, log });
  const pool = new ShareDerivePool({ partner: 'MK', secretFile, refs, size: 2 });
  const worker = new ShareWorker({
    partner: 'MK',
    js,
    jsm,
    agreements: fixedAgreements('MK', AGREEMENTS),
    audit: sink,
    aggregator,
    log,
    refs,
    derive: pool,
  });
  running.push({ worker, pool });
  await worker.start();
  return { worker, pool };
}

/** Seals `events` as MK's gateway does and stores them in WBX_EVENTS; resolves to the tokens by event id. */
async function ingest(events: readonly ValidEvent[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const event of events) {
    const token = p.sealer('MK').seal(event);
    tokens.set(event.eventId, token);
    await js.publish(eventSubject('MK', event.type), token, { msgID: event.eventId });
  }
  return tokens;
}

/** The share stream's presentations by event id. */
async function shared(count: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let seq = 1; seq <= count; seq++) {
    const m = await jsm.streams.getMessage(shareStream('RS'), { seq });
    if (m !== null) out.set(m.header.get('Nats-Msg-Id'), m.string());
  }
  return out;
}

/** The event ids MK's audit chain lists as disclosed to RS. */
async function audited(): Promise<string[]> {
  return (await auditEntries(jsm))
    .filter((e) => e.kind === 'disclosure' && e.recipient === 'RS')
    .flatMap((e) => (e.kind === 'disclosure' ? (e.eventIds ?? [e.eventId]) : []));
}

describe('ShareWorker with a ShareDerivePool', () => {
  it('is built: the share-derive worker runs from dist', () => {
    expect(ShareDerivePool.available()).toBe(true);
  });

  it('derives a backlog on the workers as the main thread does, each presentation after its audit entry', async () => {
    // More than the 64 in flight below which the worker derives on its own thread.
    const events = eventsOf('crossing.irregular', 150, 'derive-pool');
    const tokens = await ingest(events);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let asked!: () => void;
    const first = new Promise<void>((resolve) => (asked = resolve));
    const held: AuditSink = {
      get failure() {
        return audit.failure;
      },
      async append(record: DisclosureRecord) {
        asked();
        await released;
        return audit.append(record);
      },
    };
    const { pool } = await startWorker(held);
    try {
      // The first audit entry is asked for; while it is not stored, nothing has gone to RS's stream.
      await first;
      expect(await messages(jsm, shareStream('RS'))).toBe(0);
    } finally {
      release();
    }
    await until(
      'the backlog acknowledged',
      async () => (await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER)).num_ack_pending === 0,
    );
    expect(pool.derivedOnWorkers).toBeGreaterThan(0);
    const presentations = await shared(events.length);
    expect([...presentations.keys()].sort()).toEqual(events.map((e) => e.eventId).sort());
    expect(new Set(await audited())).toEqual(new Set(presentations.keys()));
    // The same disclosures and the same keyed references as derived here, on the main thread.
    const policy = partnerPolicy('MK', AGREEMENTS);
    let bound = 0;
    for (const [eventId, presentation] of presentations) {
      const got = verifyPresentation(presentation, { manifest: p.manifest });
      const [grant] = deriveShares(tokens.get(eventId)!, 'MK', policy, refs, new Date()).grants;
      const want = verifyPresentation(new TextDecoder().decode(grant!.presentation), {
        manifest: p.manifest,
      });
      expect(got.disclosed).toEqual(want.disclosed);
      expect(got.claims).toEqual(want.claims);
      if (presentation.at(-1) !== '~') bound += 1;
    }
    // The references went out keyed and signed (a binding after the last disclosure).
    expect(bound).toBeGreaterThan(0);
  });

  it('repeats on restart what was on the workers when it stopped: every event shared once and audited', async () => {
    const events = eventsOf('crossing.irregular', 150, 'derive-pool-restart');
    await ingest(events);
    const first = await startWorker();
    await until('some events shared', async () => (await messages(jsm, shareStream('RS'))) > 0);
    // Stopped with events still delivered, derived or being derived, and not acknowledged.
    await first.worker.stop();
    await first.pool.close();
    running.splice(0);

    await startWorker();
    await until(
      'every event acknowledged',
      async () =>
        (await jsm.consumers.info(EVENTS_STREAM, SHARE_CONSUMER)).ack_floor.stream_seq >= events.length,
    );
    await until('all shared', async () => (await messages(jsm, shareStream('RS'))) === events.length);
    const presentations = await shared(events.length);
    expect([...presentations.keys()].sort()).toEqual(events.map((e) => e.eventId).sort());
    // Every disclosure is in the audit chain (some maybe twice, after the restart), none missing.
    expect(new Set(await audited())).toEqual(new Set(presentations.keys()));
  });
});
