import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';

import { EVENTS_STREAM, SHARE_CONSUMER, shareConsumer, shareStreamRecipient } from './nats-layout.js';
import { Periodic } from './periodic.js';

export interface ConsumerPendingOptions {
  readonly jsm: JetStreamManager;
  /** `wbx_share_pending_messages{stream, consumer}`. */
  readonly gauge: Gauge<'stream' | 'consumer'>;
  readonly log: Logger;
  /** How often the consumers are measured; default 30 s. */
  readonly everyMs?: number;
}

/**
 * Measures how far sharing is behind: the messages not yet delivered or not yet acknowledged of the
 * `wbx-share` consumer on WBX_EVENTS (this partner's own sharing) and of every recipient's consumer on
 * its share stream (what the recipient has not fetched). A gauge that keeps growing is the
 * WbxSharePendingGrowing alert (deploy/README.md).
 */
export class ConsumerPendingMonitor {
  private readonly seen = new Set<string>();
  private readonly periodic: Periodic;

  constructor(private readonly options: ConsumerPendingOptions) {
    this.periodic = new Periodic(() => this.check(), {
      everyMs: options.everyMs ?? 30_000,
      immediately: true,
      onError: (e) => options.log.warn({ err: e }, 'measuring the share consumers failed'),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Measures every share consumer once; a consumer that went away loses its series. */
  async check(): Promise<void> {
    const consumers: [string, string][] = [[EVENTS_STREAM, SHARE_CONSUMER]];
    for await (const stream of this.options.jsm.streams.names()) {
      const recipient = shareStreamRecipient(stream);
      if (recipient !== undefined) consumers.push([stream, shareConsumer(recipient)]);
    }
    const now = new Set<string>();
    for (const [stream, consumer] of consumers) {
      const info = await this.options.jsm.consumers.info(stream, consumer).catch(() => undefined);
      if (info === undefined) continue;
      now.add(`${stream}\0${consumer}`);
      this.options.gauge.set({ stream, consumer }, info.num_pending + info.num_ack_pending);
    }
    for (const key of this.seen) {
      if (now.has(key)) continue;
      const [stream = '', consumer = ''] = key.split('\0');
      this.options.gauge.remove({ stream, consumer });
    }
    this.seen.clear();
    for (const key of now) this.seen.add(key);
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }
}
