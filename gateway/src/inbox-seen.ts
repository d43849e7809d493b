import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

import { bucketStream, INBOX_SEEN_BUCKET, inboxMsgId } from './nats-layout.js';
import { ensureStream } from './streams.js';

const ms = (n: number): number => n * 1_000_000;

/** The entry of a withdrawn event, in place of its inbox sequence. */
const WITHDRAWN = 'withdrawn';

export interface InboxSeenOptions {
  /** How long an entry is kept, in ms (0: forever): at least as long as the inbox keeps events. */
  readonly ttlMs: number;
  readonly replicas?: number;
}

/**
 * What WBX_INBOX has stored, beyond its duplicate window: one KV entry per stored event
 * (`<origin>.<eventId>` → the inbox sequence). The inbox's Nats-Msg-Id deduplication forgets an event
 * after the window; this does not, for as long as the inbox may keep it. Entries are written after the
 * event is stored, so a failure between the two can only store an event once more within the window
 * (which the inbox deduplicates), never lose one.
 */
export class InboxSeen {
  private constructor(private readonly kv: KV) {}

  static async open(
    js: JetStreamClient,
    jsm: JetStreamManager,
    options: InboxSeenOptions,
  ): Promise<InboxSeen> {
    const kv = await new Kvm(js).create(INBOX_SEEN_BUCKET, {
      history: 1,
      ttl: options.ttlMs,
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    });
    // An existing bucket keeps its settings on create: bring its age limit (and replicas) in line.
    await ensureStream(jsm, {
      name: bucketStream(INBOX_SEEN_BUCKET),
      max_age: ms(options.ttlMs),
      ...(options.replicas === undefined ? {} : { num_replicas: options.replicas }),
    });
    return new InboxSeen(kv);
  }

  private static key(origin: string, eventId: string): string {
    return inboxMsgId(origin, eventId);
  }

  /** Whether the inbox stored this event of this origin (within the entries' lifetime). */
  async has(origin: string, eventId: string): Promise<boolean> {
    const entry = await this.kv.get(InboxSeen.key(origin, eventId));
    return entry !== null && entry.operation === 'PUT';
  }

  /** Where the inbox stored this event of this origin (its latest version), if it did. */
  async seq(origin: string, eventId: string): Promise<number | undefined> {
    const entry = await this.kv.get(InboxSeen.key(origin, eventId));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    const seq = Number(entry.string());
    return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
  }

  /** Records that the inbox stored the event (at `inboxSeq`). */
  async remember(origin: string, eventId: string, inboxSeq: number): Promise<void> {
    await this.kv.put(InboxSeen.key(origin, eventId), String(inboxSeq));
  }

  /**
   * Records that the origin withdrew the event: it stays seen (the event itself, sent again, is not
   * stored again) but has no version (`seq` gives none), and `withdrawn` tells it from one never stored.
   */
  async withdraw(origin: string, eventId: string): Promise<void> {
    await this.kv.put(InboxSeen.key(origin, eventId), WITHDRAWN);
  }

  /** Whether the origin withdrew this event (within the entries' lifetime). */
  async withdrawn(origin: string, eventId: string): Promise<boolean> {
    const entry = await this.kv.get(InboxSeen.key(origin, eventId));
    return entry !== null && entry.operation === 'PUT' && entry.string() === WITHDRAWN;
  }
}
