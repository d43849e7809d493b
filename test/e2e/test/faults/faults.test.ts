import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, type ServiceError } from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Event, IngestClient, type SubmitResult } from '@wbx/proto';
import { generateEvents } from '@wbx/synth';
import { startNatsServer } from '@wbx/test-helpers';
import { beforeAll, describe, expect, it } from 'vitest';
import { wbxBinary } from '@wbx/cli';

import { GATEWAY_NKEY_FILE } from '@wbx/gateway';
import { EVENTS_STREAM } from '@wbx/gateway';
import { startTestGateway } from '@wbx/fixtures';
import { makeIdentity, startGatewayProcess, type GatewayProcess, type Identity } from '@wbx/test-helpers';
import { alive } from '@wbx/gateway';

const WBX_BIN = wbxBinary();

let events: Event[];
beforeAll(() => {
  events = [
    ...generateEvents({
      partner: 'MK',
      count: 50_000,
      seed: 'faults',
      from: new Date('2024-01-01T00:00:00Z'),
      to: new Date('2024-03-01T00:00:00Z'),
    }),
  ].map((e) => Event.fromJSON(e));
}, 60_000);

// ---------------------------------------------------------------------------------------------------------
// A gateway as a child process (`wbx gateway`), so that it can be killed with SIGKILL.

/** `wbx gateway` for MK, ready; disposing it stops it gracefully (SIGTERM). */
function spawnGateway(identity: Identity, dataDir: string, natsUrl?: string): Promise<GatewayProcess> {
  const args = [
    ...['--partner', 'MK', '--key', identity.keyFile('MK'), '--manifest', identity.manifestFile],
    ...['--data', dataDir, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--insecure'],
    ...(natsUrl === undefined ? [] : ['--nats', natsUrl]),
  ];
  return startGatewayProcess(WBX_BIN, args, { env: { WBX_LOG_LEVEL: 'warn' } });
}

// ---------------------------------------------------------------------------------------------------------
// A SubmitStream client that honours flow control and records every result.

interface StreamOutcome {
  /** eventId → seq of every receipt. */
  readonly receipts: Map<string, number>;
  /** eventIds whose receipt said `duplicate: true`. */
  readonly duplicates: Set<string>;
  /** eventId → rejection code. */
  readonly rejections: Map<string, string>;
  /** How many results arrived. */
  readonly results: number;
  /** Set when the call failed (e.g. the gateway died). */
  readonly error: ServiceError | undefined;
}

async function submitStream(
  address: string,
  batch: readonly Event[],
  onResult?: (result: SubmitResult, outcome: StreamOutcome) => void,
): Promise<StreamOutcome> {
  const client = new IngestClient(address, credentials.createInsecure());
  const outcome = {
    receipts: new Map<string, number>(),
    duplicates: new Set<string>(),
    rejections: new Map<string, string>(),
    results: 0,
    error: undefined as ServiceError | undefined,
  };
  try {
    const call = client.submitStream();
    const done = new Promise<void>((resolve) => {
      call.on('data', (r: SubmitResult) => {
        outcome.results += 1;
        if (r.receipt !== undefined) {
          outcome.receipts.set(r.eventId, r.receipt.seq);
          if (r.receipt.duplicate) outcome.duplicates.add(r.eventId);
        } else {
          outcome.rejections.set(r.eventId, r.rejection?.code ?? '');
        }
        onResult?.(r, outcome);
      });
      call.on('end', () => resolve());
      call.on('error', (e: ServiceError) => {
        outcome.error = e;
        resolve();
      });
    });
    for (const event of batch) {
      if (outcome.error !== undefined) break;
      if (!call.write(event)) {
        await Promise.race([new Promise<void>((resolve) => call.once('drain', () => resolve())), done]);
      }
    }
    if (outcome.error === undefined) call.end();
    await done;
    return outcome;
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading WBX_EVENTS back.

interface StoredEvent {
  readonly seq: number;
  readonly msgId: string | undefined;
  /** The sealed token's `jti` claim: the eventId it was sealed with. */
  readonly jti: string;
}

function jtiOf(token: string): string {
  const jwt = token.slice(0, token.indexOf('~'));
  const payload = jwt.split('.')[1] ?? '';
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti: string }).jti;
}

/** Every message of WBX_EVENTS, in order, through an ordered consumer. */
async function readStored(nc: NatsConnection): Promise<{ stored: StoredEvent[]; messages: number }> {
  const info = await (await jetstreamManager(nc)).streams.info(EVENTS_STREAM);
  const stored: StoredEvent[] = [];
  if (info.state.messages === 0) return { stored, messages: 0 };
  const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM);
  const messages = await consumer.consume({ max_messages: 2_000 });
  for await (const m of messages) {
    stored.push({ seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id'), jti: jtiOf(m.string()) });
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return { stored, messages: info.state.messages };
}

/**
 * Asserts that WBX_EVENTS holds exactly `expected` (each once, Nats-Msg-Id = sealed jti) and that every
 * receipt names the sequence its event is stored at.
 */
async function expectStoredExactlyOnce(
  nc: NatsConnection,
  expected: readonly Event[],
  receipts: readonly Map<string, number>[],
): Promise<void> {
  const { stored, messages } = await readStored(nc);
  expect(messages).toBe(expected.length);
  expect(stored).toHaveLength(expected.length);
  const seqById = new Map<string, number>();
  let mismatched = 0;
  for (const s of stored) {
    if (s.msgId !== s.jti) mismatched += 1;
    seqById.set(s.jti, s.seq);
  }
  expect(mismatched).toBe(0);
  expect(seqById.size).toBe(expected.length);
  expect(expected.filter((e) => !seqById.has(e.eventId))).toEqual([]);
  for (const map of receipts) {
    const wrong = [...map].filter(([id, seq]) => seqById.get(id) !== seq);
    expect(wrong).toEqual([]);
  }
}

// ---------------------------------------------------------------------------------------------------------

describe('gateway faults', () => {
  it('keeps every eventId once and every receipt when the gateway is killed -9 during a 50k ingest and the ingest re-run', async () => {
    await using nats = await startNatsServer();
    const dir = await mkdtemp(join(tmpdir(), 'wbx-faults-a-'));
    try {
      const identity = await makeIdentity(dir, ['MK']);
      const data = join(dir, 'data');
      const KILL_AT = 15_000;

      // First run: SIGKILL the gateway after KILL_AT receipts.
      let first: StreamOutcome;
      {
        await using gw = await spawnGateway(identity, data, nats.url);
        let killing: Promise<unknown> | undefined;
        first = await submitStream(gw.ready.grpc, events, (_r, o) => {
          if (o.receipts.size === KILL_AT) killing = gw.kill('SIGKILL');
        });
        await killing;
        expect(gw.process.signalCode).toBe('SIGKILL');
      }
      expect(first.error).toBeDefined();
      expect(first.rejections.size).toBe(0);
      expect(first.receipts.size).toBeGreaterThanOrEqual(KILL_AT);
      expect(first.receipts.size).toBeLessThan(events.length);
      expect(first.duplicates.size).toBe(0);

      // Second run: a new gateway, the whole ingest again.
      let second: StreamOutcome;
      {
        await using gw = await spawnGateway(identity, data, nats.url);
        second = await submitStream(gw.ready.grpc, events);
      }
      expect(second.error).toBeUndefined();
      expect(second.rejections.size).toBe(0);
      expect(second.receipts.size).toBe(events.length);
      // What the first run acknowledged, the second finds stored: duplicate, same seq.
      expect([...first.receipts.keys()].filter((id) => !second.duplicates.has(id))).toEqual([]);
      expect([...first.receipts].filter(([id, seq]) => second.receipts.get(id) !== seq)).toEqual([]);

      const nc = await connect({ servers: nats.url });
      try {
        await expectStoredExactlyOnce(nc, events, [first.receipts, second.receipts]);
      } finally {
        await nc.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // About 40 s on an idle 2-core machine; the margin is for a busy one.
  }, 180_000);

  it('loses no acknowledged event when nats-server is killed -9 and restarted mid-ingest', async () => {
    await using nats = await startNatsServer();
    await using tg = await startTestGateway({
      natsUrl: nats.url,
      settings: { 'nats.publishTimeout': 15_000 },
    });
    const batch = events.slice(0, 20_000);
    const KILL_AT = 5_000;

    let outage: Promise<void> | undefined;
    let last = performance.now();
    let longestGapMs = 0;
    const run = await submitStream(tg.gateway.grpcAddress, batch, (_r, o) => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
      if (o.results === KILL_AT) {
        outage = (async () => {
          await nats.kill('SIGKILL');
          await sleep(1_000);
          await nats.restart();
        })();
      }
    });
    await outage;
    expect(outage).toBeDefined();
    expect(run.error).toBeUndefined();
    expect(run.results).toBe(batch.length);
    const unavailable = [...run.rejections].filter(([, code]) => code === 'UNAVAILABLE').map(([id]) => id);
    expect(unavailable).toHaveLength(run.rejections.size);
    expect(run.receipts.size + unavailable.length).toBe(batch.length);
    const metrics = await (await fetch(`http://${tg.gateway.httpAddress}/metrics`)).text();
    const reconnects = Number(/^wbx_nats_reconnects_total (\d+)/m.exec(metrics)?.[1]);
    expect(reconnects).toBeGreaterThanOrEqual(1);
    console.info(
      `nats-server restart mid-ingest: ${run.receipts.size} receipts (${run.duplicates.size} duplicate: true), ` +
        `${unavailable.length} UNAVAILABLE, longest pause between results ${Math.round(longestGapMs)} ms`,
    );

    const nc = await connect({ servers: nats.url });
    try {
      // Every acknowledged event is stored exactly once, at the sequence its receipt names.
      const { stored } = await readStored(nc);
      const seqById = new Map(stored.map((s) => [s.jti, s.seq]));
      expect(seqById.size).toBe(stored.length);
      expect([...run.receipts].filter(([id, seq]) => seqById.get(id) !== seq)).toEqual([]);

      // Re-submitting what was refused completes the ingest without duplicates.
      const retry = new Set(unavailable);
      const again = await submitStream(
        tg.gateway.grpcAddress,
        batch.filter((e) => retry.has(e.eventId)),
      );
      expect(again.error).toBeUndefined();
      expect(again.rejections.size).toBe(0);
      expect(again.receipts.size).toBe(unavailable.length);
      await expectStoredExactlyOnce(nc, batch, [run.receipts, again.receipts]);
    } finally {
      await nc.close();
    }
  }, 120_000);

  it('stops the embedded nats-server left behind by a gateway killed -9 and serves its data after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-faults-c-'));
    const data = join(dir, 'data');
    const pidFile = join(data, 'nats', 'nats-server.pid');
    const natsPid = async (): Promise<number> => Number((await readFile(pidFile, 'utf8')).trim());
    const ours = async (pid: number): Promise<boolean> =>
      alive(pid) && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(data);
    const leftovers = new Set<number>();
    try {
      const identity = await makeIdentity(dir, ['MK']);
      const batch = events.slice(0, 2_000);

      let first: StreamOutcome;
      {
        await using gw1 = await spawnGateway(identity, data);
        first = await submitStream(gw1.ready.grpc, batch);
        await gw1.kill('SIGKILL');
      }
      expect(first.error).toBeUndefined();
      expect(first.receipts.size).toBe(batch.length);
      const orphan = await natsPid();
      leftovers.add(orphan);
      expect(await ours(orphan)).toBe(true);

      {
        await using gw2 = await spawnGateway(identity, data);
        const current = await natsPid();
        leftovers.add(current);
        expect(current).not.toBe(orphan);
        expect(alive(orphan)).toBe(false);

        // The embedded nats-server admits the gateway's own nkey user (and recipients) only.
        const seed = (await readFile(join(data, 'nats-access', GATEWAY_NKEY_FILE), 'utf8')).trim();
        const nc = await connect({
          servers: gw2.ready.nats,
          authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
        });
        try {
          await expectStoredExactlyOnce(nc, batch, [first.receipts]);
        } finally {
          await nc.close();
        }
        // Re-submitting finds each event where the first gateway stored it.
        const again = await submitStream(gw2.ready.grpc, batch.slice(0, 100));
        expect(again.duplicates.size).toBe(100);
        expect([...again.receipts].filter(([id, seq]) => first.receipts.get(id) !== seq)).toEqual([]);
      }
      // A graceful stop takes the embedded nats-server down with the gateway.
      for (const pid of leftovers) expect(alive(pid)).toBe(false);
    } finally {
      for (const pid of leftovers) if (await ours(pid)) process.kill(pid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
