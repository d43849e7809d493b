import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AUDIT_STREAM,
  AuditLog,
  decodeAuditEntry,
  encodeAuditEntry,
  ensureAuditStream,
  readAudit,
  type DisclosureRecord,
} from '@wbx/audit';
import { importPrivateJwk } from '@wbx/registry';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { registerAuditCommands } from '../src/cli/audit.js';
import { CliError } from '../src/cli/errors.js';
import type { CliRun } from './cli-harness.js';
import { makeIdentity, type Identity } from './support/identity.js';

/**
 * `wbx audit …` through a program holding only the audit commands, with runCli's error handling (the
 * full program's wiring is not needed to test them).
 */
async function wbxAudit(argv: string[]): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  const io = { stdin: Readable.from([]), stdout, stderr, interactive: false, now: () => new Date() };
  const result = { exitCode: 0 };
  const program = new Command('wbx')
    .exitOverride()
    .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });
  registerAuditCommands(program, io, result);
  let code: number;
  try {
    await program.parseAsync(argv, { from: 'user' });
    code = result.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (e instanceof CliError) {
      stderr.write(`wbx: ${e.code}: ${e.message}\n`);
      code = e.exitCode;
    } else throw e;
  }
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

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

/** A nats-server holding MK's audit chain: `count` disclosures, a checkpoint every 20 and at close. */
async function serverWithChain(count: number): Promise<{ server: NatsServer; nc: NatsConnection }> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const key = importPrivateJwk(JSON.parse(await readFile(identity.keyFile('MK'), 'utf8')));
  const log = await AuditLog.open({
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    origin: 'MK',
    signer: { kid: key.kid, privateKey: key.key },
    checkpointEvery: { entries: 20, ms: 0 },
  });
  for (let i = 0; i < count; i += 1) await log.append(record(i));
  await log.close();
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
      /^OK: MK audit chain intact: 53 entries \(50 disclosures, 3 checkpoints\), 0 unsealed; head seq 53 /,
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
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, entries: 53, checkpoints: 3, origin: 'MK' });
  });

  it('verify reports an empty, intact chain for a partner without audit entries', async () => {
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
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 entries');
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
