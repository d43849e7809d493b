// What the hostile partner did in the trial — purge the origin's WBX_AUDIT — on real gateways: the origin
// must stop sharing (no disclosure without its audit entry), say so on /readyz, let `wbx audit verify`
// name the problem, and refuse to begin a new chain when it starts again on the purged stream.
import { join } from 'node:path';

import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { AUDIT_STREAM, AuditError } from '@wbx/audit';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { startNatsServer, until, type NatsServer } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { auditAnchorPath } from '@wbx/gateway';
import type { Gateway } from '@wbx/gateway';
import { SHARE_CONSUMER } from '@wbx/gateway';
import { wbx } from '@wbx/cli';
import { startFederation, submitAll, type Federation } from '@wbx/fixtures';

const TYPES = ['crossing.irregular', 'smuggling.incident'];

let fed: Federation;
let mk: Gateway;
let rs: Gateway;

function events(seed: string, count: number): ValidEvent[] {
  return [
    ...generateEvents({
      partner: 'MK',
      count,
      seed,
      from: new Date('2023-09-01'),
      to: new Date('2023-09-15'),
    }),
  ]
    .map((e) => validateEvent(JSON.parse(JSON.stringify(e))))
    .flatMap((r) => (r.ok && TYPES.includes(r.event.type) ? [r.event] : []));
}

const messages = async (jsm: JetStreamManager, stream: string): Promise<number> =>
  (await jsm.streams.info(stream)).state.messages;

async function readyz(g: Gateway): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`http://${g.httpAddress}/readyz`);
  return { status: res.status, reasons: ((await res.json()) as { reasons: string[] }).reasons };
}

const verifyArgs = (g: Gateway, natsUrl: string) => [
  'audit',
  'verify',
  '--nats',
  natsUrl,
  '--manifest',
  fed.identity.manifestFile,
  '--partner',
  g.config.partner,
];

beforeAll(async () => {
  fed = await startFederation(['MK', 'RS', 'AL']);
  const validFrom = new Date(Date.now() - 3_600_000).toISOString();
  const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
  await fed.agree({
    id: 'MK-RS-1',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'Test agreement',
    validFrom,
    validUntil,
    terms: [{ types: TYPES, mode: 'records', fields: ['occurredAt', 'routeSegment'], retentionDays: 30 }],
  });
  mk = await fed.start('MK');
  rs = await fed.start('RS', { receiveFrom: [mk] });
}, 60_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
});

describe('the origin gateway when its audit stream is purged', () => {
  // One story: the restart at its end needs the purge, and leaves MK stopped.
  it('stops sharing, says why on /readyz and in wbx audit verify, and refuses to start again', async () => {
    const shared = events('before', 40);
    await submitAll(mk, shared);
    const rsm = await jetstreamManager(rs.nats);
    await until('RS inbox', async () =>
      (await messages(rsm, 'WBX_INBOX')) >= shared.length ? true : undefined,
    );
    expect(await readyz(mk)).toEqual({ status: 200, reasons: [] });
    const mkm = await jetstreamManager(mk.nats);
    const inShare = await messages(mkm, 'WBX_SHARE_RS');
    const inInbox = await messages(rsm, 'WBX_INBOX');

    // The attack, done with the gateway's own (admin) connection.
    await mkm.streams.purge(AUDIT_STREAM);
    const [receipt] = await submitAll(mk, events('after', 10).slice(0, 1));
    const ready = await until('/readyz to report the audit chain', async () => {
      const r = await readyz(mk);
      return r.reasons.some((x) => x.startsWith('audit chain broken')) ? r : undefined;
    });
    expect(ready.status).toBe(503);
    expect(ready.reasons).toContain('audit chain broken (CHAIN_BROKEN): sharing stopped');

    // Not disclosed, not acknowledged, and no new chain begun.
    expect(await messages(mkm, 'WBX_SHARE_RS')).toBe(inShare);
    const consumer = await mkm.consumers.info('WBX_EVENTS', SHARE_CONSUMER);
    expect(consumer.ack_floor.stream_seq).toBeLessThan(receipt!.seq);
    expect(await messages(mkm, AUDIT_STREAM)).toBe(0);
    expect(await messages(rsm, 'WBX_INBOX')).toBe(inInbox);

    const nkey = ['--nkey', join(mk.accessDir ?? '', 'gateway.nkey')];
    const verify = await wbx([...verifyArgs(mk, mk.natsUrl), ...nkey], { now: new Date() });
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(
      'BROKEN: entry 1 (stream seq 0): NO_GENESIS: no genesis checkpoint: the chain is empty',
    );
    const anchor = ['--anchor', auditAnchorPath(join(fed.dir, 'data', 'MK'))];
    const anchored = await wbx([...verifyArgs(mk, mk.natsUrl), ...nkey, ...anchor], { now: new Date() });
    expect(anchored.code).toBe(1);
    expect(anchored.stdout).toContain('NO_GENESIS');

    // It refuses to start again on the purged stream (ANCHOR_MISMATCH) rather than begin a new chain.
    await mk.stop();
    const e: unknown = await fed.start('MK').then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AuditError);
    expect((e as AuditError).code).toBe('ANCHOR_MISMATCH');
    expect((e as AuditError).message).toContain('refusing to start a new chain');
  });
});

describe('a gateway restarted on an audit stream purged while it was down', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats[Symbol.asyncDispose]();
  });

  it('anchors its chain, and after the purge refuses to start (ANCHOR_MISMATCH) while wbx audit verify --anchor fails', async () => {
    const settings = { 'nats.url': nats.url };
    const al = await fed.start('AL', { settings });
    const anchor = ['--anchor', auditAnchorPath(join(fed.dir, 'data', 'AL'))];
    const intact = await wbx([...verifyArgs(al, nats.url), ...anchor], { now: new Date() });
    expect(intact.stdout).toMatch(/^OK: AL audit chain intact: 1 entries \(0 disclosures, 1 checkpoints\)/);
    expect(intact.stdout).toContain('holds the anchored checkpoint 1');
    expect(intact.code).toBe(0);
    await al.stop();

    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(AUDIT_STREAM);
      const e: unknown = await fed.start('AL', { settings }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect((e as AuditError).code).toBe('ANCHOR_MISMATCH');
      expect(await messages(jsm, AUDIT_STREAM)).toBe(0);
    } finally {
      await nc.close();
    }
    const purged = await wbx([...verifyArgs(al, nats.url), ...anchor], { now: new Date() });
    expect(purged.code).toBe(1);
    expect(purged.stdout).toContain('BROKEN: entry 1 (stream seq 0): NO_GENESIS');
  });
});
