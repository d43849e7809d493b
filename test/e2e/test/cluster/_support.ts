// Support for the cluster suite: a whole stream read at once and a deterministic shuffle.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
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
