import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { generateSigningKey } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer } from '@wbx/seal';
import { spawnNode, startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVENTS_STREAM, INBOX_STREAM } from '@wbx/gateway';
import { wbxBinary } from '../src/binary.js';
import { wbx } from '../src/run-captured.js';
import { startTestGateway, type TestGateway } from '@wbx/fixtures';

const WBX = wbxBinary();
const COUNT = 60;

interface Printed {
  seq: number;
  iss: string;
  jti: string;
  wbx_type: string;
  [claim: string]: unknown;
}

let dir: string;
let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let gw: TestGateway;
/** The ingested events, as NDJSON objects. */
let ingested: { eventId: string; type: string }[];

/** `wbx tail` in-process, on the real clock (tokens are sealed now). */
const tail = (args: string[]) =>
  wbx(['tail', '--nats', nats.url, '--manifest', gw.identity.manifestFile, ...args], { now: new Date() });

const printed = (stdout: string): Printed[] =>
  stdout
    .trimEnd()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Printed);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-tail-'));
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  gw = await startTestGateway({ natsUrl: nats.url });
  const file = join(dir, 'events.ndjson');
  expect(
    (await wbx(['generate', '--partner', 'MK', '--count', String(COUNT), '--seed', 'tail', '--out', file]))
      .code,
  ).toBe(0);
  const ingest = await wbx(['ingest', '--gateway', gw.gateway.grpcAddress, '--insecure', '--file', file]);
  expect(ingest.code).toBe(0);
  ingested = (await readFile(file, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { eventId: string; type: string });
}, 60_000);

afterAll(async () => {
  await gw[Symbol.asyncDispose]();
  await nc.close();
  await nats[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('wbx tail', () => {
  it('prints --count verified events as JSON with their seq, and exits', async () => {
    const r = await tail(['--count', String(COUNT)]);
    expect(r.code).toBe(0);
    const events = printed(r.stdout);
    expect(events).toHaveLength(COUNT);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.jti))).toEqual(new Set(ingested.map((e) => e.eventId)));
    for (const e of events) {
      expect(e).toMatchObject({ iss: 'MK', wbx_v: 1 });
      expect(e.iat).toEqual(expect.any(Number));
      expect(e).not.toHaveProperty('_sd');
    }
    expect(r.stderr).toContain(`${COUNT} verified, 0 refused`);
  });

  it('reads only the events of --type', async () => {
    const wanted = ingested.filter((e) => e.type === 'crossing.irregular');
    expect(wanted.length).toBeGreaterThan(0);
    expect(wanted.length).toBeLessThan(COUNT);
    const r = await tail(['--type', 'crossing.irregular', '--count', String(wanted.length)]);
    expect(r.code).toBe(0);
    const events = printed(r.stdout);
    expect(events.every((e) => e.wbx_type === 'crossing.irregular')).toBe(true);
    expect(new Set(events.map((e) => e.jti))).toEqual(new Set(wanted.map((e) => e.eventId)));
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
    expect(events[0]).toHaveProperty('persons');
  });

  it('starts at --from-seq', async () => {
    const r = await tail(['--from-seq', '51', '--count', '3']);
    expect(r.code).toBe(0);
    expect(printed(r.stdout).map((e) => e.seq)).toEqual([51, 52, 53]);
  });

  it('runs until SIGINT when there is no --count, then exits 0', async () => {
    await using child = spawnNode([WBX, 'tail', '--nats', nats.url, '--manifest', gw.identity.manifestFile]);
    // It printed the COUNT events and still runs: it follows the stream.
    await child.line((_, i) => i === COUNT - 1, 15_000);
    expect(printed(child.stdout())).toHaveLength(COUNT);
    expect(child.running).toBe(true);
    child.process.kill('SIGINT');
    expect(await child.exit(10_000)).toBe(0);
    expect(child.stderr()).toContain(`${COUNT} verified, 0 refused`);
  }, 30_000);

  it('reports forged and misplaced tokens on stderr with their code, and prints none of them', async () => {
    const jsm = await jetstreamManager(nc);
    const first = (await jsm.streams.info(EVENTS_STREAM)).state.last_seq + 1;
    const [a, b, c, d] = [
      ...(
        await wbx(['generate', '--partner', 'MK', '--count', '4', '--seed', 'forged'], { now: new Date() })
      ).stdout
        .trimEnd()
        .split('\n')
        .map((l): ValidEvent => {
          const v = validateEvent(JSON.parse(l));
          if (!v.ok) throw new Error(JSON.stringify(v.violations));
          return v.event;
        }),
    ];
    const realKid = JSON.parse(await readFile(gw.identity.keyFile('MK'), 'utf8')) as { kid: string };
    const sealWith = (key: ReturnType<typeof generateSigningKey>, kid: string, event: ValidEvent): string =>
      createSealer({
        issuer: 'MK',
        kid,
        privateKey: createPrivateKey({ key: { ...key.privateJwk }, format: 'jwk' }),
      }).seal(event);
    const impostor = generateSigningKey('MK', new Date(Date.now() - 3_600_000));
    const stranger = generateSigningKey('MK', new Date('2020-01-01T00:00:00Z'));
    // 1. the partner's real key id, someone else's key; 2. a key the manifest does not know.
    await js.publish(`wbx.evt.MK.${a!.type}`, sealWith(impostor, realKid.kid, a!), { msgID: a!.eventId });
    await js.publish(`wbx.evt.MK.${b!.type}`, sealWith(stranger, stranger.kid, b!), { msgID: b!.eventId });
    // 3. a genuine token filed under another type's subject.
    const genuine = await wbx(
      [
        'ingest',
        '--gateway',
        gw.gateway.grpcAddress,
        '--insecure',
        '--file',
        '-',
        '--rejects',
        join(dir, 'r'),
      ],
      {
        stdin: `${JSON.stringify(c)}\n`,
      },
    );
    expect(genuine.code).toBe(0);
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: first + 2 });
    const otherType = c!.type === 'asylum.decision' ? 'asylum.application' : 'asylum.decision';
    await js.publish(`wbx.evt.MK.${otherType}`, stored!.string(), { msgID: `${c!.eventId}-copy` });
    // 4. a valid event after them.
    const last = await wbx(
      [
        'ingest',
        '--gateway',
        gw.gateway.grpcAddress,
        '--insecure',
        '--file',
        '-',
        '--rejects',
        join(dir, 'r'),
      ],
      {
        stdin: `${JSON.stringify(d)}\n`,
      },
    );
    expect(last.code).toBe(0);

    const r = await tail(['--from-seq', String(first), '--count', '2']);
    expect(r.code).toBe(1);
    expect(printed(r.stdout).map((e) => [e.seq, e.jti])).toEqual([
      [first + 2, c!.eventId],
      [first + 4, d!.eventId],
    ]);
    expect(r.stderr).toContain(`seq ${first}: BAD_SIGNATURE`);
    expect(r.stderr).toContain(`seq ${first + 1}: UNKNOWN_KEY`);
    expect(r.stderr).toContain(`seq ${first + 3}: SUBJECT_MISMATCH`);
    expect(r.stderr).toContain('2 verified, 3 refused');
  });

  it('in WBX_INBOX, shows an event only under the message id <issuer>.<event id>', async () => {
    const jsm = await jetstreamManager(nc);
    const inbox = await jsm.streams
      .info(INBOX_STREAM)
      .catch(async () => jsm.streams.add({ name: INBOX_STREAM, subjects: ['wbx.in.>'] }));
    const first = inbox.state.last_seq + 1;
    const [event] = ingested;
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: 1 });
    const subject = `wbx.in.MK.${event!.type}`;
    // The bare event id (as before origins were told apart), another origin's prefix, then the right one.
    for (const msgID of [event!.eventId, `AL.${event!.eventId}`, `MK.${event!.eventId}`]) {
      await js.publish(subject, stored!.string(), { msgID });
    }

    const r = await tail(['--stream', INBOX_STREAM, '--from-seq', String(first), '--count', '1']);
    expect(r.code).toBe(1);
    expect(printed(r.stdout).map((e) => [e.seq, e.jti])).toEqual([[first + 2, event!.eventId]]);
    expect(r.stderr).toContain(`seq ${first}: MSG_ID_MISMATCH`);
    expect(r.stderr).toContain(`seq ${first + 1}: MSG_ID_MISMATCH`);
    expect(r.stderr).toContain('1 verified, 2 refused');
  });

  it('refuses a bad --type or --stream (exit 2) and reports a missing stream (exit 1)', async () => {
    const badType = await tail(['--type', 'crossing', '--count', '1']);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('--type');
    const badStream = await tail(['--stream', 'EVENTS', '--count', '1']);
    expect(badStream.code).toBe(2);
    expect(badStream.stderr).toContain('--stream');
    const missing = await tail(['--stream', 'WBX_SHARE_XX', '--count', '1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND');
  });
});
