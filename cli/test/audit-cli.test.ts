import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AUDIT_STREAM,
  AuditLog,
  decodeAuditEntry,
  encodeAuditEntry,
  ensureAuditStream,
  readAudit,
  type AuditAnchorStore,
  type DisclosureRecord,
} from '@wbx/audit';
import { importPrivateJwk } from '@wbx/registry';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fileAuditAnchor } from '@wbx/gateway';
import { wbx, type CliRun } from '../src/run-captured.js';
import { makeIdentity, type Identity } from '@wbx/test-helpers';

/** `wbx audit …` in-process, on the real clock (the identity's keys are valid from an hour ago). */
const wbxAudit = (argv: string[]): Promise<CliRun> => wbx(argv, { now: new Date() });

const record = (i: number): DisclosureRecord => ({
  recipient: i % 3 === 0 ? 'FRONTEX' : 'RS',
  agreementId: i % 3 === 0 ? 'agr-mk-frontex' : 'agr-mk-rs',
  eventId: `0190a1b2-0000-7000-8000-${String(i).padStart(12, '0')}`,
  eventType: i % 3 === 0 ? 'stats.aggregate' : 'crossing.irregular',
  paths: i % 3 === 0 ? ['cells'] : i % 2 === 0 ? ['persons.citizenship', 'routeSegment'] : ['routeSegment'],
  mode: i % 3 === 0 ? 'aggregate' : 'records',
  purpose: 'risk-analysis',
});

let dir: string;
let identity: Identity;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-audit-cli-'));
  identity = await makeIdentity(dir, ['MK', 'RS']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A nats-server holding MK's audit chain: its genesis, `count` disclosures, a checkpoint every 20 and at
 * close (unless `unsealed` more follow it), anchored in `anchor` if given.
 */
async function serverWithChain(
  count: number,
  anchor?: AuditAnchorStore,
  unsealed = 0,
): Promise<{ server: NatsServer; nc: NatsConnection }> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const key = importPrivateJwk(JSON.parse(await readFile(identity.keyFile('MK'), 'utf8')));
  const log = await AuditLog.open({
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    origin: 'MK',
    signer: { kid: key.kid, privateKey: key.key },
    checkpointEvery: { entries: 20, ms: 0 },
    ...(anchor === undefined ? {} : { anchor }),
  });
  for (let i = 0; i < count; i += 1) await log.append(record(i));
  await log.close();
  if (unsealed > 0) {
    // A writer that stopped without its final checkpoint.
    const more = await AuditLog.open({
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      origin: 'MK',
      signer: { kid: key.kid, privateKey: key.key },
      checkpointEvery: { entries: 1000, ms: 0 },
    });
    for (let i = 0; i < unsealed; i += 1) await more.append(record(count + i));
  }
  return { server, nc };
}

describe('wbx audit', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    ({ server, nc } = await serverWithChain(50));
  });
  afterAll(async () => {
    await nc.close();
    await server[Symbol.asyncDispose]();
  });

  it('verify prints OK with the counts and exits 0 for an intact chain', async () => {
    const r = await wbxAudit([
      'audit',
      'verify',
      '--nats',
      server.url,
      '--manifest',
      identity.manifestFile,
      '--partner',
      'MK',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^OK: MK audit chain intact: 54 entries \(50 disclosures, 4 checkpoints\), 0 unsealed; head seq 54 /,
    );
    const json = await wbxAudit([
      'audit',
      'verify',
      '--nats',
      server.url,
      '--manifest',
      identity.manifestFile,
      '--partner',
      'MK',
      '--json',
    ]);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, entries: 54, checkpoints: 4, origin: 'MK' });
  });

  it('verify exits 1 for a partner without an audit chain: it has no genesis checkpoint', async () => {
    const r = await wbxAudit([
      'audit',
      'verify',
      '--nats',
      server.url,
      '--manifest',
      identity.manifestFile,
      '--partner',
      'RS',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'BROKEN: entry 1 (stream seq 0): NO_GENESIS: no genesis checkpoint: the chain is empty',
    );
  });

  it('report --recipient RS prints one row per agreement, type and mode', async () => {
    const r = await wbxAudit([
      'audit',
      'report',
      '--nats',
      server.url,
      '--partner',
      'MK',
      '--recipient',
      'RS',
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RECIPIENT\s+AGREEMENT\s+TYPE\s+MODE\s+COUNT\s+FIRST\s+LAST\s+PATHS$/);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/^RS\s+agr-mk-rs\s+crossing\.irregular\s+records\s+33\s/);
    expect(lines[2]).toContain('persons.citizenship (16), routeSegment');
    expect(r.stderr).toContain('33 disclosures in 1 rows');
    expect(r.stdout).not.toContain('FRONTEX');
  });

  it('report --json writes one object per row, and --from/--to narrow it', async () => {
    const all = await wbxAudit(['audit', 'report', '--nats', server.url, '--partner', 'MK', '--json']);
    const rows = all.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { recipient: string; count: number });
    expect(rows.map((r) => [r.recipient, r.count])).toEqual([
      ['FRONTEX', 17],
      ['RS', 33],
    ]);
    const none = await wbxAudit([
      'audit',
      'report',
      '--nats',
      server.url,
      '--partner',
      'MK',
      '--to',
      '2020-01-01',
    ]);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('0 disclosures in 0 rows');
  });

  it('refuses bad flags with USAGE (exit 2) and reports a missing stream or server (exit 1)', async () => {
    const bad = await wbxAudit(['audit', 'report', '--nats', server.url, '--partner', 'ZZ']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('USAGE: --partner');
    const dates = ['--from', '2024-05-01', '--to', '2024-04-01'];
    expect(
      (await wbxAudit(['audit', 'report', '--nats', server.url, '--partner', 'MK', ...dates])).code,
    ).toBe(2);
    await using empty = await startNatsServer();
    const missing = await wbxAudit(['audit', 'report', '--nats', empty.url, '--partner', 'MK']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`NOT_FOUND: no stream ${AUDIT_STREAM}`);
    const port = empty.port;
    await empty.stop();
    const down = await wbxAudit(['audit', 'report', '--nats', `nats://127.0.0.1:${port}`, '--partner', 'MK']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('UNREACHABLE');
  });
});

describe('wbx audit verify after tampering', () => {
  it('exits 1 naming the entry deleted from WBX_AUDIT', async () => {
    const { server, nc } = await serverWithChain(30);
    try {
      const jsm = await jetstreamManager(nc);
      let target = 0;
      for await (const m of readAudit(jsm, 'MK')) {
        if (decodeAuditEntry(m.data).seq === 17) target = m.streamSeq;
      }
      expect(await jsm.streams.deleteMessage(AUDIT_STREAM, target)).toBe(true);
      const r = await wbxAudit([
        'audit',
        'verify',
        '--nats',
        server.url,
        '--manifest',
        identity.manifestFile,
        '--partner',
        'MK',
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`BROKEN: entry 17 (stream seq ${target + 1}): SEQ_GAP: entry 17 missing`);
      expect(r.stdout).toContain('16 entries before it verified');
    } finally {
      await nc.close();
      await server[Symbol.asyncDispose]();
    }
  });

  it('exits 1 naming the entry altered when WBX_AUDIT was rebuilt with one entry changed', async () => {
    const { server, nc } = await serverWithChain(30);
    try {
      // JetStream messages are immutable: an attacker with stream access rewrites the whole stream.
      const jsm = await jetstreamManager(nc);
      const stored: Uint8Array[] = [];
      for await (const m of readAudit(jsm, 'MK')) stored.push(m.data);
      const k = 12;
      const altered = decodeAuditEntry(stored[k - 1]!);
      if (altered.kind !== 'disclosure') throw new Error('entry 12 should be a disclosure');
      stored[k - 1] = encodeAuditEntry({ ...altered, recipient: 'AL' });
      await jsm.streams.delete(AUDIT_STREAM);
      await ensureAuditStream(jsm, 'MK');
      for (const data of stored) await jetstream(nc).publish('wbx.audit.MK', data);
      const r = await wbxAudit([
        'audit',
        'verify',
        '--nats',
        server.url,
        '--manifest',
        identity.manifestFile,
        '--partner',
        'MK',
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`BROKEN: entry ${k} (stream seq ${k}): HASH_MISMATCH`);
    } finally {
      await nc.close();
      await server[Symbol.asyncDispose]();
    }
  });
});

describe('wbx audit verify --anchor', () => {
  const verifyArgs = (url: string, anchorFile?: string): string[] => [
    'audit',
    'verify',
    '--nats',
    url,
    '--manifest',
    identity.manifestFile,
    '--partner',
    'MK',
    ...(anchorFile === undefined ? [] : ['--anchor', anchorFile]),
  ];

  it('exits 0 for a chain holding the anchored checkpoint, and reports entries after the last checkpoint as unsealed', async () => {
    const file = join(dir, 'anchor-ok', 'anchor.json');
    const { server, nc } = await serverWithChain(30, fileAuditAnchor(file), 3);
    try {
      const r = await wbxAudit(verifyArgs(server.url, file));
      expect(r.code).toBe(0);
      // genesis 1, 2-21, cp 22, 23-32, cp 33 (anchored), then 34-36 unsealed.
      expect(r.stdout).toMatch(
        /^OK: MK audit chain intact: 36 entries \(33 disclosures, 3 checkpoints\), 3 unsealed; head seq 36 \S+; holds the anchored checkpoint 33\n/,
      );
      expect(r.stdout).toContain(
        'UNSEALED: entries 34..36 follow the last signed checkpoint (seq 33): hash-linked, not signed yet',
      );
    } finally {
      await nc.close();
      await server[Symbol.asyncDispose]();
    }
  });

  it('exits 1 for a chain cut off before the anchored checkpoint, which looks intact without the anchor', async () => {
    const file = join(dir, 'anchor-cut', 'anchor.json');
    const { server, nc } = await serverWithChain(30, fileAuditAnchor(file));
    try {
      // Rebuilt with its first 22 entries (through checkpoint 22): a valid, shorter chain.
      const jsm = await jetstreamManager(nc);
      const stored: Uint8Array[] = [];
      for await (const m of readAudit(jsm, 'MK')) stored.push(m.data);
      await jsm.streams.purge(AUDIT_STREAM);
      for (const data of stored.slice(0, 22)) await jetstream(nc).publish('wbx.audit.MK', data);
      expect((await wbxAudit(verifyArgs(server.url))).code).toBe(0);
      const r = await wbxAudit(verifyArgs(server.url, file));
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        'BROKEN: entry 23 (stream seq 0): ANCHOR_MISMATCH: the chain ends at seq 22, before the anchored checkpoint 33: it was cut off',
      );
    } finally {
      await nc.close();
      await server[Symbol.asyncDispose]();
    }
  });

  it('refuses an anchor file that is missing, not an anchor, or of another partner (USAGE, exit 2)', async () => {
    const missing = await wbxAudit(verifyArgs('nats://127.0.0.1:1', join(dir, 'nowhere.json')));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('USAGE: --anchor:');
    const junk = join(dir, 'junk-anchor.json');
    await writeFile(junk, 'SUAKZ-not-json');
    const r = await wbxAudit(verifyArgs('nats://127.0.0.1:1', junk));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`USAGE: --anchor: ${junk}: not JSON`);
    expect(r.stderr).not.toContain('SUAKZ');
    const other = join(dir, 'rs-anchor.json');
    const anchor = {
      origin: 'RS',
      seq: 1,
      hash: 'A'.repeat(43),
      streamSeq: 1,
      at: '2024-06-01T00:00:00.000Z',
    };
    await writeFile(other, JSON.stringify(anchor));
    const rs = await wbxAudit(verifyArgs('nats://127.0.0.1:1', other));
    expect(rs.code).toBe(2);
    expect(rs.stderr).toContain("anchors RS's chain, not MK's");
  });
});
