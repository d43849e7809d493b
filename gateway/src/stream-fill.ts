import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';

import { Periodic } from './periodic.js';

/** Above this share of a limit, the monitor warns. */
export const FILL_WARNING_RATIO = 0.8;

/** While a stream stays above the threshold, the warning is repeated at most this often. */
const REPEAT_WARNING_MS = 300_000;

export interface StreamFillOptions {
  readonly jsm: JetStreamManager;
  readonly streams: readonly string[];
  /** `wbx_stream_fill_ratio{stream, limit}`, if metrics are kept. */
  readonly gauge?: Gauge<'stream' | 'limit'>;
  readonly log: Logger;
  /** How often the streams are measured; default 30 s. */
  readonly everyMs?: number;
}

/**
 * Measures how full bounded streams are (stored bytes / max_bytes, messages / max_msgs), sets the gauge
 * and logs a warning when a stream is above 80 % of a limit (again every 5 minutes while it stays there,
 * and once at info level when it is back below).
 */
export class StreamFillMonitor {
  /** When each `stream/limit` above the threshold was last warned about. */
  private readonly warned = new Map<string, number>();
  private readonly periodic: Periodic;

  constructor(private readonly options: StreamFillOptions) {
    this.periodic = new Periodic(() => this.check(), {
      everyMs: options.everyMs ?? 30_000,
      immediately: true,
      onError: (e) => options.log.warn({ err: e }, 'measuring the streams failed'),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Measures every stream once. */
  async check(): Promise<void> {
    for (const stream of this.options.streams) {
      const { config, state } = await this.options.jsm.streams.info(stream);
      this.report(stream, 'bytes', state.bytes, config.max_bytes);
      this.report(stream, 'messages', state.messages, config.max_msgs);
    }
  }

  private report(stream: string, limit: 'bytes' | 'messages', used: number, max: number): void {
    if (!(max > 0)) return;
    const ratio = used / max;
    this.options.gauge?.set({ stream, limit }, ratio);
    const key = `${stream}/${limit}`;
    const last = this.warned.get(key);
    if (ratio > FILL_WARNING_RATIO) {
      if (last !== undefined && Date.now() - last < REPEAT_WARNING_MS) return;
      this.warned.set(key, Date.now());
      this.options.log.warn(
        { stream, limit, used, max, ratio: Math.round(ratio * 1000) / 1000 },
        `${stream} is above ${FILL_WARNING_RATIO * 100} % of its ${limit} limit`,
      );
    } else if (last !== undefined) {
      this.warned.delete(key);
      this.options.log.info(
        { stream, limit, used, max },
        `${stream} is back below ${FILL_WARNING_RATIO * 100} % of its ${limit} limit`,
      );
    }
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }
}
