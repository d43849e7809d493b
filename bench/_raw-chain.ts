// The e2e benchmark's raw baseline: the same hops an event takes from the origin's ingest to the
// recipient's inbox, with plain NATS and no gateway work. This process publishes each message, acked, to
// R1 on nats-server A (as the origin's gateway stores a submission in WBX_EVENTS); relay 1 (a child
// process, as the origin's share worker) consumes R1 and publishes the same bytes, acked, to R2 on A
// (WBX_SHARE_<R>); relay 2 (as the recipient's receive worker) consumes R2 from A and publishes to R3 on
// nats-server B (WBX_INBOX); an ordered consumer here notes each message's arrival in R3.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { startNats, startNodeChild } from './_ingest-setup.ts';

/** Notes, per Nats-Msg-Id, when it appears in `stream` (an ordered consumer from the start). */
export function watch(
  nc: NatsConnection,
  stream: string,
  onMessage: (id: string, at: number) => void,
): () => Promise<void> {
  let stop = (): Promise<void> => Promise.resolve();
  const loop = (async () => {
    const consumer = await jetstream(nc).consumers.get(stream);
    const messages = await consumer.consume({ max_messages: 1_024 });
    stop = async () => {
      await messages.close();
    };
    for await (const m of messages) onMessage(m.headers?.get('Nats-Msg-Id') ?? '', performance.now());
  })();
  return async () => {
    await stop();
    await loop;
  };
}

export interface RawChainResult {
  /** Send → arrival in R3, ms, one value per arrived message. */
  readonly latencies: number[];
  readonly lost: number;
  readonly achievedPerSecond: number;
}

/**
 * Sends `payloads` at `perSecond` through the raw chain; nothing else runs in it. The first `warm`
 * messages warm the processes up (as the e2e run's warm-up does) and are not counted.
 */
export async function rawChain(
  dir: string,
  payloads: readonly Uint8Array[],
  perSecond: number,
  warm = 500,
  storage: 'file' | 'memory' = 'file',
): Promise<RawChainResult> {
  const a = await startNats(join(dir, 'raw-a'));
  const b = await startNats(join(dir, 'raw-b'));
  const relays: { stop(): Promise<void> }[] = [];
  const ncA = await connect({ servers: a.url, noAsyncTraces: true });
  const ncB = await connect({ servers: b.url, noAsyncTraces: true });
  try {
    const day = 86_400_000_000_000;
    const jsmA = await jetstreamManager(ncA);
    const kept = {
      duplicate_window: day,
      storage: storage === 'file' ? StorageType.File : StorageType.Memory,
    };
    await jsmA.streams.add({ name: 'R1', subjects: ['raw.one.>'], ...kept });
    await jsmA.streams.add({ name: 'R2', subjects: ['raw.two.>'], ...kept });
    await (await jetstreamManager(ncB)).streams.add({ name: 'R3', subjects: ['raw.three.>'], ...kept });
    for (const stream of ['R1', 'R2'])
      await jsmA.consumers.add(stream, { durable_name: 'relay', ack_policy: 'explicit' });
    for (const [inStream, outUrl, outSubject] of [
      ['R1', a.url, 'raw.two.x'],
      ['R2', b.url, 'raw.three.x'],
    ] as const) {
      relays.push(
        await startNodeChild([
          join(import.meta.dirname, '_relay.ts'),
          a.url,
          inStream,
          'relay',
          outUrl,
          outSubject,
        ]),
      );
    }
    const sent = new Map<string, number>();
    const arrived = new Map<string, number>();
    const stopReader = watch(ncB, 'R3', (id, at) => {
      const t = sent.get(id);
      if (t !== undefined && !arrived.has(id)) arrived.set(id, at - t);
    });
    const js = jetstream(ncA);
    /** Sends payloads [from, to) paced; resolves when all are acknowledged and arrived (or 30 s later). */
    const pass = async (from: number, to: number): Promise<number> => {
      const acks: Promise<unknown>[] = [];
      const started = performance.now();
      for (let i = from; i < to;) {
        const due = Math.min(to, from + Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
        for (; i < due; i++) {
          const id = `raw-${i}`;
          sent.set(id, performance.now());
          acks.push(js.publish('raw.one.x', payloads[i], { msgID: id }));
        }
        await sleep(1);
      }
      const rate = (to - from) / ((performance.now() - started) / 1000);
      await Promise.all(acks);
      const deadline = performance.now() + 30_000;
      while (arrived.size < to && performance.now() < deadline) await sleep(20);
      return rate;
    };
    const warmCount = Math.min(warm, payloads.length);
    await pass(0, warmCount);
    const achievedPerSecond = await pass(warmCount, payloads.length);
    const latencies: number[] = [];
    for (let i = warmCount; i < payloads.length; i++) {
      const l = arrived.get(`raw-${i}`);
      if (l !== undefined) latencies.push(l);
    }
    await stopReader();
    return { latencies, lost: payloads.length - warmCount - latencies.length, achievedPerSecond };
  } finally {
    for (const r of relays) await r.stop();
    await ncA.close();
    await ncB.close();
    await a.stop();
    await b.stop();
  }
}
