import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  Client,
  credentials,
  Metadata,
  status,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Event, IngestClient, Receipt, SubmitResult } from '@wbx/proto';
import { readOwnSealedEvent } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { statusDetails } from '@wbx/gateway';
import { EVENTS_STREAM } from '@wbx/gateway';
import { wbx } from '@wbx/cli';
import { startTestGateway, type TestGateway } from '@wbx/fixtures';

const FROM = new Date('2024-03-01T00:00:00Z');
const TO = new Date('2024-03-02T00:00:00Z');
const SUBMIT = '/wbx.v1.Ingest/Submit';
const SUBMIT_STREAM = '/wbx.v1.Ingest/SubmitStream';
/** Text that appears only inside the malformed requests: the log must never show it. */
const MARKER = 'MARKER-7f3a';

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let gw: TestGateway;
let client: IngestClient;
/** A client that sends whatever bytes it is given, as a broken or hostile caller would. */
let raw: Client;
let dir: string;
const logLines: string[] = [];
const logs = (): Record<string, unknown>[] => logLines.map((l) => JSON.parse(l) as Record<string, unknown>);

const pool = [...generateEvents({ partner: 'MK', count: 1_000, seed: 'ingest-errors', from: FROM, to: TO })];
/** An event not used before, of `type` if given. */
function fresh(type?: string): Event {
  const i = pool.findIndex((e) => type === undefined || e.type === type);
  const e = pool[i];
  if (e === undefined) throw new Error(`event pool has no more ${type ?? 'events'}`);
  pool.splice(i, 1);
  return Event.fromJSON(e);
}

async function stored(): Promise<number> {
  return (await jsm.streams.info(EVENTS_STREAM)).state.messages;
}

function submit(event: Event): Promise<Receipt> {
  return new Promise<Receipt>((resolve, reject) => {
    client.submit(event, new Metadata(), { deadline: Date.now() + 10_000 }, (e, r) =>
      e ? reject(e) : resolve(r),
    );
  });
}

async function submitError(event: Event): Promise<ServiceError> {
  try {
    await submit(event);
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error('Submit succeeded; expected it to fail');
}

/** Ingest.Submit with raw request bytes; the outcome as the status code and ErrorInfo reason. */
function submitBytes(bytes: Uint8Array): Promise<Receipt | ServiceError> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      SUBMIT,
      (b: Buffer) => b,
      (b: Buffer) => Receipt.decode(b),
      Buffer.from(bytes),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (e, r) => resolve(e ?? (r as Receipt)),
    );
  });
}

/** Ingest.SubmitStream with raw messages; every result and how the stream ended. */
async function streamBytes(messages: readonly Uint8Array[]): Promise<{
  results: SubmitResult[];
  error?: ServiceError;
}> {
  const call: ClientDuplexStream<Buffer, SubmitResult> = raw.makeBidiStreamRequest(
    SUBMIT_STREAM,
    (b: Buffer) => b,
    (b: Buffer) => SubmitResult.decode(b),
    new Metadata(),
    { deadline: Date.now() + 20_000 },
  );
  const results: SubmitResult[] = [];
  const done = new Promise<ServiceError | undefined>((resolve) => {
    call.on('data', (r: SubmitResult) => results.push(r));
    call.on('error', (e: ServiceError) => resolve(e));
    call.on('status', (s: { code: status }) => {
      if (s.code === status.OK) resolve(undefined);
    });
  });
  for (const m of messages) call.write(Buffer.from(m));
  call.end();
  const error = await done;
  return { results, ...(error === undefined ? {} : { error }) };
}

const encode = (e: Event): Uint8Array => Event.encode(e).finish();

/** A valid assessment.route whose summary carries `text` (ASCII), encoded. */
function routeBytes(text: string): { event: Event; bytes: Buffer } {
  const event = fresh('assessment.route');
  event.assessmentRoute!.summary = text;
  return { event, bytes: Buffer.from(encode(event)) };
}

/** `bytes` with the first `ZZ` replaced by C3 28: the same length, no longer UTF-8. */
function breakUtf8(bytes: Buffer): Buffer {
  const at = bytes.indexOf('ZZ');
  expect(at).toBeGreaterThan(0);
  const out = Buffer.from(bytes);
  out[at] = 0xc3;
  out[at + 1] = 0x28;
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-ingest-errors-'));
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  gw = await startTestGateway({ natsUrl: nats.url, log });
  client = new IngestClient(gw.gateway.grpcAddress, credentials.createInsecure());
  raw = new Client(gw.gateway.grpcAddress, credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  raw.close();
  client.close();
  await gw[Symbol.asyncDispose]();
  await nc.close();
  await nats[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('Ingest with a malformed message', () => {
  const cases: [string, () => Uint8Array][] = [
    ['truncated in a length-delimited field', () => encode(fresh()).subarray(0, 40)],
    ['a tag with wire type 7', () => Buffer.concat([encode(fresh()), Buffer.from([0x0f, 0x01])])],
    ['field number 0 and more bytes after it', () => Buffer.concat([encode(fresh()), Buffer.from([0, 1])])],
    // schemaVersion (field 4, uint32) as a varint of 12 bytes
    ['a varint longer than ten bytes', () => Buffer.from([0x20, ...Array<number>(11).fill(0xff), 0x01])],
    ['a string that is not UTF-8', () => breakUtf8(routeBytes(`${MARKER} ZZ route summary`).bytes)],
  ];

  it.each(cases)('answers Submit INVALID_ARGUMENT with reason MALFORMED_MESSAGE: %s', async (_name, make) => {
    const before = await stored();
    const r = await submitBytes(make());
    expect(r).toBeInstanceOf(Error);
    const e = r as ServiceError;
    expect({ code: status[e.code], reason: statusDetails(e).reason }).toEqual({
      code: 'INVALID_ARGUMENT',
      reason: 'MALFORMED_MESSAGE',
    });
    expect(e.details).toMatch(/^the request is not a valid message: /);
    expect(await stored()).toBe(before);
  });

  it('does not store a string that is not UTF-8 with U+FFFD in its place', async () => {
    const { event, bytes } = routeBytes('Route ZZ summary');
    const before = await stored();
    const e = (await submitBytes(breakUtf8(bytes))) as ServiceError;
    expect(statusDetails(e).reason).toBe('MALFORMED_MESSAGE');
    expect(await stored()).toBe(before);
    // Nothing was stored under its id: the valid event is new.
    expect((await submit(event)).duplicate).toBe(false);
  });

  it('answers a malformed message of a SubmitStream with a rejection and goes on with the stream', async () => {
    const [a, b] = [fresh(), fresh()];
    const { results, error } = await streamBytes([
      encode(a),
      Buffer.concat([encode(fresh()), Buffer.from([0x0f])]),
      breakUtf8(routeBytes('Stream ZZ summary').bytes),
      encode(b),
    ]);
    expect(error).toBeUndefined();
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    const [r0, r1, r2, r3] = results;
    expect(r0!.receipt).toMatchObject({ eventId: a.eventId, duplicate: false });
    for (const r of [r1!, r2!]) {
      expect(r.eventId).toBe('');
      expect(r.receipt).toBeUndefined();
      expect(r.rejection).toMatchObject({ code: 'MALFORMED_MESSAGE', violations: [] });
    }
    expect(r3!.receipt).toMatchObject({ eventId: b.eventId, duplicate: false });
  });

  it('logs each refusal with its size and reason, never its bytes, and counts it', async () => {
    const refusals = logs().filter((l) => l.msg === 'Ingest request refused: not a valid wbx.v1.Event');
    expect(refusals.length).toBeGreaterThanOrEqual(cases.length + 3);
    for (const l of refusals) {
      expect([l.level, typeof l.size, typeof l.reason]).toEqual([40, 'number', 'string']);
    }
    expect(logLines.join('\n')).not.toContain(MARKER);
    const metrics = await (await fetch(`http://${gw.gateway.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/^wbx_ingest_rejected_total\{code="MALFORMED_MESSAGE"\} [1-9]\d*/m);
    // The gateway still serves.
    expect((await submit(fresh())).duplicate).toBe(false);
  });
});

describe('Ingest with an event id already stored', () => {
  it('answers the same content again as a plain duplicate with the stored seq', async () => {
    const event = fresh('crossing.irregular');
    const first = await submit(event);
    const before = await stored();
    // A retry builds the event anew: the sealed copy differs in salts, decoys, signature and iat.
    expect(await submit(Event.fromJSON(Event.toJSON(event)))).toEqual({
      eventId: event.eventId,
      seq: first.seq,
      duplicate: true,
    });
    expect(await stored()).toBe(before);
  });

  const changes: [string, (e: Event) => Event][] = [
    [
      'another occurredAt',
      (e) => Event.fromJSON({ ...(Event.toJSON(e) as object), occurredAt: '2024-03-01T00:00:01Z' }),
    ],
    [
      'a person attribute changed',
      (e) => {
        const c = Event.fromJSON(Event.toJSON(e));
        const p = c.crossingIrregular!.persons[0]!;
        p.sex = p.sex === 'F' ? 'M' : 'F';
        return c;
      },
    ],
    ['another type and body', (e) => ({ ...fresh('smuggling.incident'), eventId: e.eventId })],
  ];

  it.each(changes)(
    'answers other content under the same id ALREADY_EXISTS with reason EVENT_ID_CONFLICT: %s',
    async (_name, change) => {
      const event = fresh('crossing.irregular');
      expect(event.crossingIrregular!.persons.length).toBeGreaterThan(0);
      const first = await submit(event);
      const before = await stored();
      const e = await submitError(change(event));
      expect({ code: status[e.code], reason: statusDetails(e).reason }).toEqual({
        code: 'ALREADY_EXISTS',
        reason: 'EVENT_ID_CONFLICT',
      });
      expect(e.details).toBe(
        `event ${event.eventId} is already stored with different content; nothing was stored`,
      );
      expect(await stored()).toBe(before);
      // The stored copy is still the first.
      const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq: first.seq });
      expect(readOwnSealedEvent(msg!.string()).claims).toMatchObject({
        jti: event.eventId,
        wbx_type: 'crossing.irregular',
        occurredAt: event.occurredAt,
      });
      // And the original content is still a duplicate.
      expect(await submit(event)).toEqual({ eventId: event.eventId, seq: first.seq, duplicate: true });
    },
  );

  it('answers a conflict in a SubmitStream with a rejection, the same content with a receipt', async () => {
    const event = fresh('crossing.irregular');
    const other = Event.fromJSON({ ...(Event.toJSON(event) as object), occurredAt: '2024-03-01T00:00:02Z' });
    const { results, error } = await streamBytes([encode(event), encode(other), encode(event)]);
    expect(error).toBeUndefined();
    const [r0, r1, r2] = results;
    expect(r0!.receipt).toMatchObject({ duplicate: false });
    expect(r1).toMatchObject({
      index: 1,
      eventId: event.eventId,
      rejection: { code: 'EVENT_ID_CONFLICT', violations: [] },
    });
    expect(r1!.receipt).toBeUndefined();
    expect(r2!.receipt).toEqual({ eventId: event.eventId, seq: r0!.receipt!.seq, duplicate: true });
  });

  it('logs a conflict with the event id and origin only, and counts it', async () => {
    const event = fresh('crossing.irregular');
    const person = event.crossingIrregular!.persons[0]!;
    const [storedRef, otherRef] = ['5a'.repeat(32), '6b'.repeat(32)];
    person.subjectRef = storedRef;
    const first = await submit(event);
    const changed = Event.fromJSON(Event.toJSON(event));
    changed.crossingIrregular!.persons[0]!.subjectRef = otherRef;
    expect(statusDetails(await submitError(changed)).reason).toBe('EVENT_ID_CONFLICT');
    const line = logs().find(
      (l) => l.eventId === event.eventId && String(l.msg).includes('EVENT_ID_CONFLICT'),
    );
    expect(line).toMatchObject({ level: 40, eventId: event.eventId, origin: 'MK', seq: first.seq });
    expect(Object.keys(line!).sort()).toEqual([
      'eventId',
      'hostname',
      'level',
      'msg',
      'origin',
      'pid',
      'seq',
      'time',
    ]);
    const all = logLines.join('\n');
    for (const ref of [storedRef, otherRef]) expect(all).not.toContain(ref);
    const metrics = await (await fetch(`http://${gw.gateway.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/^wbx_ingest_rejected_total\{code="EVENT_ID_CONFLICT"\} [1-9]\d*/m);
  });

  it('makes wbx ingest report a conflicting line as rejected EVENT_ID_CONFLICT, and exit 1', async () => {
    const [a, b, c] = [fresh(), fresh('crossing.irregular'), fresh()];
    await submit(b);
    const conflicting = { ...(Event.toJSON(b) as object), occurredAt: '2024-03-01T00:00:03Z' };
    const file = join(dir, 'conflict.ndjson');
    await writeFile(
      file,
      [a, b, c].map((e, i) => JSON.stringify(i === 1 ? conflicting : Event.toJSON(e))).join('\n'),
    );
    const r = await wbx(['ingest', '--gateway', gw.gateway.grpcAddress, '--insecure', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('accepted 2, duplicates 0, rejected 1 (EVENT_ID_CONFLICT 1)\n');
    expect(r.stderr).toContain(
      '1 line reuses an event id already stored with different content (EVENT_ID_CONFLICT): nothing was stored or changed',
    );
    const rejects = (await readFile(`${file}.rejects.ndjson`, 'utf8')).trimEnd().split('\n');
    expect(rejects.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        line: 2,
        eventId: b.eventId,
        code: 'EVENT_ID_CONFLICT',
        message: `event ${b.eventId} is already stored with different content; nothing was stored`,
        violations: [],
      },
    ]);
  });
});
