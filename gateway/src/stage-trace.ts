import type { Histogram } from 'prom-client';
import type { Logger } from 'pino';

/** The hops of one submission, in order; each is timed from the hop before it. */
export type IngestHop = 'received' | 'validated' | 'sealed' | 'stored' | 'dequeued' | 'answered';

/**
 * One sampled submission's timestamps at every hop (`performance.now()`), from the gRPC message's
 * arrival to its receipt handed to the call; `done()` observes each hop's time since the one before in
 * `wbx_stage_latency_ms{stage}` and logs them all at debug level.
 */
export class HopTrace {
  private readonly at: [IngestHop, number][] = [];

  constructor(
    private readonly sink: StageTrace,
    at = performance.now(),
  ) {
    this.at.push(['received', at]);
  }

  mark(hop: IngestHop): void {
    this.at.push([hop, performance.now()]);
  }

  done(eventId: string): void {
    this.sink.record(eventId, this.at);
  }
}

/**
 * Opt-in per-hop timing of every `every`-th submission (env `WBX_TRACE_SAMPLE=N`; 0 or unset: off, and
 * nothing is timed). Where a queue forms shows as the one stage whose latency grows with the load.
 */
export class StageTrace {
  private count = 0;

  constructor(
    private readonly every: number,
    private readonly histogram: Histogram<'stage'>,
    private readonly log: Logger,
  ) {}

  /** The sample rate from the environment (`WBX_TRACE_SAMPLE`); 0 when unset or not a positive integer. */
  static everyFromEnv(env: NodeJS.ProcessEnv = process.env): number {
    const n = Number(env.WBX_TRACE_SAMPLE ?? 0);
    return Number.isInteger(n) && n > 0 ? n : 0;
  }

  /** A trace for this submission if it is a sampled one. */
  start(): HopTrace | undefined {
    if (this.every === 0) return undefined;
    this.count += 1;
    if (this.count < this.every) return undefined;
    this.count = 0;
    return new HopTrace(this);
  }

  record(eventId: string, at: readonly [IngestHop, number][]): void {
    const hops: Record<string, number> = {};
    let before: number | undefined;
    for (const [hop, t] of at) {
      if (before !== undefined) {
        const ms = t - before;
        hops[hop] = Math.round(ms * 1000) / 1000;
        this.histogram.observe({ stage: `ingest_${hop}` }, ms);
      }
      before = t;
    }
    this.log.debug({ eventId, hopsMs: hops }, 'ingest hop trace');
  }
}
