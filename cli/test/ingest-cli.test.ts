import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { Server, ServerCredentials } from '@grpc/grpc-js';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { IngestService, type Event, type IngestServer } from '@wbx/proto';
import { validateLine } from '@wbx/schema';
import { spawnNode, startGatewayProcess, startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { wbxBinary } from '../src/binary.js';
import { eventFromJson } from '../src/event-from-json.js';
import { runCli } from '../src/index.js';
import { EVENTS_STREAM } from '@wbx/gateway';
import { wbx } from '../src/run-captured.js';
import { makeTestPki } from '@wbx/fixtures';
import { startTestGateway, type TestGateway } from '@wbx/fixtures';

const WBX = wbxBinary();

let dir: string;
let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let gw: TestGateway;
let generated: string;

async function stored(): Promise<number> {
  return (await jsm.streams.info(EVENTS_STREAM)).state.messages;
}

async function generate(name: string, count: number, seed: string): Promise<string> {
  const out = join(dir, name);
  const g = await wbx([
    'generate',
    '--partner',
    'MK',
    '--count',
    String(count),
    '--seed',
    seed,
    '--out',
    out,
  ]);
  expect(g.code).toBe(0);
  return out;
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).trimEnd().split('\n');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-ingest-cli-'));
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  gw = await startTestGateway({ natsUrl: nats.url });
  generated = await generate('generated.ndjson', 3_000, 'ingest-cli');
}, 60_000);

afterAll(async () => {
  await gw[Symbol.asyncDispose]();
  await nc.close();
  await nats[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('wbx ingest', () => {
  it('stores a generated file of 3,000 events and exits 0; a re-run finds them all as duplicates', async () => {
    const before = await stored();
    const args = ['ingest', '--gateway', gw.gateway.grpcAddress, '--insecure', '--file', generated];
    const first = await wbx(args);
    expect(first.stderr).toContain('accepted 3000, duplicates 0, rejected 0\n');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe('');
    expect(await stored()).toBe(before + 3_000);
    expect(existsSync(`${generated}.rejects.ndjson`)).toBe(false);

    const again = await wbx(args);
    expect(again.stderr).toContain('accepted 0, duplicates 3000, rejected 0\n');
    expect(again.code).toBe(0);
    expect(await stored()).toBe(before + 3_000);
  }, 60_000);

  it('writes each rejected line with its line number, event id and codes, and exits 1', async () => {
    const [a, b, c, d, e] = (await lines(await generate('mixed-source.ndjson', 5, 'mixed'))).map(
      (l) => JSON.parse(l) as Record<string, unknown>,
    );
    const unknownField = { ...b, fullName: 'Jane Doe' };
    const foreign = { ...c, origin: 'RS' };
    const future = { ...d, occurredAt: '2999-01-01T00:00:00Z' };
    const file = join(dir, 'mixed.ndjson');
    await writeFile(
      file,
      [
        JSON.stringify(a),
        '{"eventId": nope',
        '',
        JSON.stringify(unknownField),
        JSON.stringify(foreign),
        JSON.stringify(future),
        JSON.stringify(e),
        '[1, 2]',
      ].join('\n'),
    );
    const rejectsFile = join(dir, 'mixed.rejected');
    const before = await stored();
    const r = await wbx([
      'ingest',
      '--gateway',
      gw.gateway.grpcAddress,
      '--insecure',
      '--file',
      file,
      '--rejects',
      rejectsFile,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'accepted 2, duplicates 0, rejected 5 (INVALID_JSON 2, DATE_IN_FUTURE 1, DATE_ORDER 1, FOREIGN_ORIGIN 1, UNKNOWN_FIELD 1)',
    );
    expect(r.stderr).toContain(rejectsFile);
    expect(await stored()).toBe(before + 2);

    const rejects = (await lines(rejectsFile)).map(
      (l) =>
        JSON.parse(l) as {
          line: number;
          eventId: string | null;
          code: string;
          violations: { path: string; code: string }[];
        },
    );
    expect(rejects.map((x) => [x.line, x.code])).toEqual([
      [2, 'INVALID_JSON'],
      [4, 'INVALID_EVENT'],
      [5, 'INVALID_EVENT'],
      [6, 'INVALID_EVENT'],
      [8, 'INVALID_JSON'],
    ]);
    expect(rejects[0]).toMatchObject({ eventId: null, violations: [{ path: '', code: 'INVALID_JSON' }] });
    // Refused here, never sent: the name would otherwise have been dropped silently and the rest stored.
    expect(rejects[1]).toMatchObject({
      eventId: b!.eventId,
      violations: [{ path: 'fullName', code: 'UNKNOWN_FIELD' }],
    });
    expect(rejects[2]).toMatchObject({
      eventId: c!.eventId,
      violations: [{ path: 'origin', code: 'FOREIGN_ORIGIN' }],
    });
    expect(rejects[3]!.eventId).toBe(d!.eventId);
    expect(rejects[3]!.violations).toContainEqual(
      expect.objectContaining({ path: 'occurredAt', code: 'DATE_IN_FUTURE' }),
    );
  });

  it('shows progress with a total and an ETA on a terminal', async () => {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (b: Buffer) => (text += b.toString()));
    const code = await runCli(
      ['ingest', '--gateway', gw.gateway.grpcAddress, '--insecure', '--file', generated],
      {
        stdin: Readable.from([]),
        stdout: new PassThrough(),
        stderr,
        interactive: true,
        now: () => new Date(),
      },
    );
    expect(code).toBe(0);
    expect(text).toContain('ingested: 3,000 / 3,000 (100.0 %) ETA 0 s');
    expect(text).toContain('duplicates 3000');
  }, 30_000);

  it('refuses --insecure to a non-loopback address before connecting (exit 2)', async () => {
    const r = await wbx(['ingest', '--gateway', '192.0.2.10:7443', '--insecure', '--file', generated]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('USAGE');
    expect(r.stderr).toContain('loopback');
  });

  it.each([
    [['--gateway', 'nohost', '--insecure'], '--gateway'],
    [['--gateway', '127.0.0.1:0', '--insecure'], '--gateway'],
    [['--gateway', '127.0.0.1:7443', '--insecure', '--tls-ca', 'ca.pem'], '--insecure excludes'],
    [['--gateway', '127.0.0.1:7443', '--cert', 'c.pem'], '--cert and --key'],
    [['--gateway', '127.0.0.1:7443', '--insecure', '--idle-timeout', 'soon'], '--idle-timeout'],
  ])('refuses %j with a usage error (exit 2)', async (flags, text) => {
    const r = await wbx(['ingest', ...flags, '--file', generated]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(text);
  });

  it('exits 2 when the file cannot be read', async () => {
    const r = await wbx([
      'ingest',
      '--gateway',
      gw.gateway.grpcAddress,
      '--insecure',
      '--file',
      join(dir, 'no'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('IO');
  });

  it('exits 1 at once when nothing listens at the address', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const t0 = performance.now();
    const r = await wbx(['ingest', '--gateway', `127.0.0.1:${port}`, '--insecure', '--file', generated]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`UNREACHABLE: cannot reach the gateway at 127.0.0.1:${port}`);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('gives up after --connect-timeout when the address accepts TCP but never speaks gRPC', async () => {
    const sockets: Socket[] = [];
    const silent: NetServer = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (silent.address() as { port: number }).port;
      const r = await wbx([
        'ingest',
        '--gateway',
        `127.0.0.1:${port}`,
        '--insecure',
        '--file',
        generated,
        '--connect-timeout',
        '500ms',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('UNREACHABLE');
      expect(r.stderr).toContain('500 ms');
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('gives up after --idle-timeout when the gateway stops answering, saying how far it got', async () => {
    // A server that takes the stream and never answers.
    const mute = new Server();
    const handlers: IngestServer = {
      submit: () => undefined,
      submitStream: (call) => {
        call.on('data', () => undefined);
      },
    };
    mute.addService(IngestService, handlers);
    const port = await new Promise<number>((resolve, reject) => {
      mute.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      );
    });
    try {
      const t0 = performance.now();
      const r = await wbx([
        'ingest',
        '--gateway',
        `127.0.0.1:${port}`,
        '--insecure',
        '--file',
        generated,
        '--idle-timeout',
        '1s',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('accepted 0, duplicates 0, rejected 0');
      expect(r.stderr).toMatch(
        /STALLED: the stream to 127\.0\.0\.1:\d+ stalled \(no answer .*\)\. No line has its result/,
      );
      expect(performance.now() - t0).toBeLessThan(10_000);
    } finally {
      mute.forceShutdown();
    }
  });

  it('gives up when the gateway answers everything but never ends the stream', async () => {
    const endless = new Server();
    const handlers: IngestServer = {
      submit: () => undefined,
      submitStream: (call) => {
        let index = 0;
        call.on('data', (e: Event) => {
          call.write({
            index: index++,
            eventId: e.eventId,
            receipt: { eventId: e.eventId, seq: index, duplicate: false },
          });
        });
      },
    };
    endless.addService(IngestService, handlers);
    const port = await new Promise<number>((resolve, reject) => {
      endless.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      );
    });
    try {
      const small = await generate('endless.ndjson', 10, 'endless');
      const r = await wbx([
        'ingest',
        '--gateway',
        `127.0.0.1:${port}`,
        '--insecure',
        '--file',
        small,
        '--idle-timeout',
        '500ms',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('accepted 10, duplicates 0, rejected 0');
      expect(r.stderr).toMatch(/STALLED: .*to end the stream\)\. Lines 1 to 10 have their results; 0 events/);
    } finally {
      endless.forceShutdown();
    }
  });

  it('uses TLS with --tls-ca, --cert and --key; without a client certificate mTLS refuses it', async () => {
    await using pki = await makeTestPki();
    await using mtls = await startTestGateway({
      natsUrl: nats.url,
      identity: gw.identity, // the same MK as gw: one audit chain on this NATS
      settings: {
        'grpc.tls.cert': pki.server.cert,
        'grpc.tls.key': pki.server.key,
        'grpc.tls.clientCa': pki.caA,
      },
    });
    const small = await generate('tls.ndjson', 20, 'tls');
    const target = ['--gateway', mtls.gateway.grpcAddress, '--file', small, '--tls-ca', pki.caA];
    const ok = await wbx(['ingest', ...target, '--cert', pki.client.cert, '--key', pki.client.key]);
    expect(ok.stderr).toContain('accepted 20, duplicates 0, rejected 0');
    expect(ok.code).toBe(0);

    const refused = await wbx(['ingest', ...target]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('UNREACHABLE');
  }, 30_000);

  it('stops reading on SIGINT, waits for the answers to what it sent, and exits 130', async () => {
    const file = await generate('interrupted.ndjson', 8_000, 'sigint');
    const before = await stored();
    const address = gw.gateway.grpcAddress;
    await using child = spawnNode([WBX, 'ingest', '--gateway', address, '--insecure', '--file', file]);
    const deadline = Date.now() + 30_000;
    while ((await stored()) < before + 500 && Date.now() < deadline) await sleep(20);
    child.process.kill('SIGINT');
    expect(await child.exit(20_000)).toBe(130);
    expect(child.stderr()).toMatch(/INTERRUPTED: stopped after line \d+/);
    const accepted = Number(/accepted (\d+), duplicates 0, rejected 0/.exec(child.stderr())?.[1]);
    expect(accepted).toBeGreaterThanOrEqual(500);
    expect(accepted).toBeLessThan(8_000);
    // Every event sent was answered before it exited: the store holds exactly those.
    expect(await stored()).toBe(before + accepted);
  }, 60_000);

  it('reports how far it got when the gateway dies mid-stream (exit 1); running again completes it', async () => {
    const file = await generate('big.ndjson', 8_000, 'kill-mid-stream');
    const id = gw.identity; // the same MK as gw: one audit chain on this NATS
    const args = [
      ...['--partner', 'MK', '--key', id.keyFile('MK'), '--manifest', id.manifestFile],
      ...['--nats', nats.url, '--data', join(dir, 'killed', 'data'), '--insecure'],
      ...['--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'],
    ];
    const spawnGateway = () => startGatewayProcess(WBX, args, { env: { WBX_LOG_LEVEL: 'error' } });

    const before = await stored();
    {
      await using victim = await spawnGateway();
      const { grpc } = victim.ready;
      const run = wbx(['ingest', '--gateway', grpc, '--insecure', '--file', file]);
      // Kill the gateway once part of the file is stored.
      const deadline = Date.now() + 30_000;
      while ((await stored()) < before + 800 && Date.now() < deadline) await sleep(20);
      await victim.kill('SIGKILL');
      const r = await run;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /STREAM_BROKEN: the stream to 127\.0\.0\.1:\d+ broke \(UNAVAILABLE: .*\)\. Lines 1 to \d+ have/,
      );
      expect(r.stderr).toContain('Run the same command again to resume');
      const accepted = Number(/accepted (\d+)/.exec(r.stderr)?.[1]);
      expect(accepted).toBeGreaterThan(0);
      expect(accepted).toBeLessThan(8_000);
    }

    {
      await using rescuer = await spawnGateway();
      const { grpc } = rescuer.ready;
      const r = await wbx(['ingest', '--gateway', grpc, '--insecure', '--file', file]);
      expect(r.code).toBe(0);
      const [, accepted, duplicates] = /accepted (\d+), duplicates (\d+), rejected 0/.exec(r.stderr) ?? [];
      expect(Number(accepted) + Number(duplicates)).toBe(8_000);
      expect(Number(duplicates)).toBeGreaterThan(0);
      expect(await stored()).toBe(before + 8_000);
    }
  }, 120_000);
});

describe('eventFromJson', () => {
  const events = async (): Promise<Record<string, unknown>[]> =>
    (await lines(generated)).map((l) => JSON.parse(l) as Record<string, unknown>);
  const valid = async (): Promise<Record<string, unknown>> => (await events())[0]!;

  it('reads a valid event into the wbx.v1.Event it describes', async () => {
    const v = await valid();
    const r = eventFromJson(v);
    expect(r.ok).toBe(true);
    expect(r.ok && r.event).toMatchObject({ eventId: v.eventId, origin: v.origin, type: v.type });
  });

  // The schema's codes, as `wbx validate` and the gateway give them: a schema version that is not 1 is
  // UNSUPPORTED_SCHEMA_VERSION, and proto field names (event_id) are unknown fields, not accepted aliases.
  it.each([
    [{ fullName: 'x' }, 'fullName', 'UNKNOWN_FIELD'],
    [{ schemaVersion: 1.5 }, 'schemaVersion', 'UNSUPPORTED_SCHEMA_VERSION'],
    [{ schemaVersion: '1' }, 'schemaVersion', 'INVALID_TYPE'],
    [{ origin: 7 }, 'origin', 'INVALID_TYPE'],
    [{ occurredAt: '2024-02-30T10:00:00Z' }, 'occurredAt', 'INVALID_FORMAT'],
    [{ occurredAt: 'yesterday' }, 'occurredAt', 'INVALID_FORMAT'],
    [{ recordedAt: 1_700_000_000 }, 'recordedAt', 'INVALID_TYPE'],
    [{ event_id: '0190b2b0-0000-7000-8000-000000000000' }, 'event_id', 'UNKNOWN_FIELD'],
  ])('refuses %j (%s %s) instead of dropping or coercing it', async (change, path, code) => {
    const r = eventFromJson({ ...(await valid()), ...change });
    expect(r).toEqual({ ok: false, violations: [expect.objectContaining({ path, code })] });
  });

  it('refuses what wbx validate refuses, with the same violations', async () => {
    const now = new Date();
    const { eventId, ...rest } = await valid();
    const future = { ...rest, eventId, occurredAt: '2999-01-01T00:00:00Z' };
    for (const input of [{ ...rest, event_id: eventId }, future, { ...future, fullName: 'x' }]) {
      const expected = validateLine(JSON.stringify(input), { now });
      expect(expected.ok).toBe(false);
      expect(eventFromJson(input, { now })).toEqual(expected);
    }
  });

  it('checks nested messages and lists', async () => {
    const crossing = (await events()).find((e) => e.type === 'crossing.irregular')!;
    const body = crossing.crossingIrregular as { persons: object[] };
    const r = eventFromJson({
      ...crossing,
      crossingIrregular: {
        ...body,
        persons: [{ ...body.persons[0], passport: 'X1' }, 'p'],
        location: { lat: 'north' },
      },
    });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.violations.map((v) => [v.path, v.code])).toEqual([
      ['crossingIrregular.location.lat', 'INVALID_TYPE'],
      ['crossingIrregular.persons[0].passport', 'UNKNOWN_FIELD'],
      ['crossingIrregular.persons[1]', 'INVALID_TYPE'],
    ]);
    expect(eventFromJson([1])).toEqual({
      ok: false,
      violations: [expect.objectContaining({ code: 'INVALID_JSON' })],
    });
  });
});
