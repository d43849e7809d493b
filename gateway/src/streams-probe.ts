import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';

export interface StreamsProbeOptions {
  readonly jsm: JetStreamManager;
  /** The streams (KV buckets as `KV_<bucket>`) this gateway needs now. */
  readonly expected: () => readonly string[];
  readonly log: Logger;
  /** How often to look; default 2 s. */
  readonly everyMs?: number;
}

/**
 * Looks at regular intervals whether every stream the gateway needs is still there, so that `/readyz`
 * says not ready when one was deleted (by an operator, a lost store, or an attack), instead of the
 * gateway failing call by call. It only reports: re-creating a stream that held data (the audit chain
 * above all) would hide the loss.
 */
export class StreamsProbe {
  private missingNow: readonly string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: StreamsProbeOptions) {}

  /** The streams found missing at the last look. */
  get missing(): readonly string[] {
    return this.missingNow;
  }

  /** Looks once now, then at every interval. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => {
      this.running ??= this.check().finally(() => (this.running = undefined));
    }, this.options.everyMs ?? 2_000);
    this.timer.unref();
  }

  /** One look at every expected stream. */
  async check(): Promise<void> {
    const { jsm, log } = this.options;
    const missing: string[] = [];
    for (const name of this.options.expected()) {
      try {
        await jsm.streams.info(name);
      } catch (e) {
        if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) missing.push(name);
        // Anything else (NATS down, a timeout) is the connection's state, which /readyz reports on its own.
      }
    }
    const before = new Set(this.missingNow);
    for (const name of missing)
      if (!before.has(name)) log.error({ stream: name }, 'a stream the gateway needs is gone');
    for (const name of before) if (!missing.includes(name)) log.info({ stream: name }, 'stream is back');
    this.missingNow = missing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
