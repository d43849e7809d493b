// Support for the cluster suite: a whole stream read at once, an ingest that reports progress,
// and a deterministic shuffle.
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, Metadata } from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { type Event, IngestClient } from '@wbx/proto';
import { Random } from '@wbx/synth';

/** One message of a stream as read: its sequence, its Nats-Msg-Id and its payload. */
export interface StoredMessage {
  readonly seq: number;
  readonly msgId: string;
  readonly data: string;
}

/** Every message of `stream` up to its last when asked, in order, read with one ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream);
  const out: StoredMessage[] = [];
  const messages = await consumer.consume({ max_messages: 1_000 });
  for await (const m of messages) {
    out.push({ seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id') ?? '', data: m.string() });
    // Up to the last message when asked: not on `pending`, which an ordered consumer may see at 0 early.
    if (m.seq >= info.state.last_seq) break;
  }
  await messages.close();
  return out;
}

/** Each item of `list` once, in an order fixed by `seed`. */
export function shuffled<T>(list: readonly T[], seed: string): T[] {
  const random = new Random(seed);
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Submits `events` to the gateway at `address()` (read again at every retry: a restarted gateway may move)
 * with `window` calls in flight, retrying a failed call with the same eventId (each call given 15 s) until
 * `deadline` (epoch ms); `onStored` counts each event accepted.
 */
export async function ingestRetrying(
  address: string,
  events: readonly Event[],
  window: number,
  deadline: number,
  onStored: () => void,
): Promise<{ retries: number }> {
  const client = new IngestClient(address, credentials.createInsecure());
  const submit = (e: Event): Promise<void> =>
    new Promise((resolve, reject) => {
      client.submit(e, new Metadata(), { deadline: Date.now() + 15_000 }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  let next = 0;
  let retries = 0;
  try {
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < events.length) {
          const e = events[next++] as Event;
          for (;;) {
            try {
              await submit(e);
              onStored();
              break;
            } catch (err) {
              if (Date.now() > deadline) throw err;
              retries += 1;
              await sleep(200);
            }
          }
        }
      }),
    );
  } finally {
    client.close();
  }
  return { retries };
}
