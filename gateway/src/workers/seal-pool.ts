import type { KeyObject } from 'node:crypto';

import type { ValidEvent } from '@wbx/schema';
import type { Sealer } from '@wbx/seal';
import { TurnBatcher } from '@wbx/turn';

import { WorkerPool } from './worker-pool.js';

/** A token sealed on a worker, or why the worker could not seal it. */
export type SealResult = { readonly token: string } | { readonly error: string };

export interface SealPoolOptions {
  readonly issuer: string;
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** Worker threads (at least 1). */
  readonly size: number;
}

/** Fewer events than this in a turn are sealed on the calling thread: posting them costs more. */
const POOL_MIN_BATCH = 4;
/** The most events one worker gets at once. */
const MAX_BATCH = 64;

/** One event for a seal worker, and the time to seal it at (its `iat`). */
export interface SealJob {
  readonly event: ValidEvent;
  readonly nowMs: number;
}

/**
 * Seals on worker threads what arrives together. The events submitted in one turn of the event loop go
 * out in batches to the workers, round robin; a turn with only a few (a trickle of submissions) is sealed
 * right here with `local`, which adds no hand-over latency. The same key seals on every thread.
 */
export class SealPool {
  private readonly pool: WorkerPool<SealJob, SealResult>;
  private readonly batcher: TurnBatcher<SealJob, SealResult>;

  constructor(options: SealPoolOptions, local: Sealer) {
    const { issuer, kid, privateKey, size } = options;
    const pool = new WorkerPool<SealJob, SealResult>(
      'seal',
      'seal-worker',
      { issuer, kid, privateKey },
      Math.max(1, size),
    );
    this.pool = pool;
    this.batcher = new TurnBatcher<SealJob, SealResult>({
      maxBatch: MAX_BATCH,
      minBatch: POOL_MIN_BATCH,
      here: ({ event, nowMs }) => ({ token: local.seal(event, { now: new Date(nowMs) }) }),
      pooled: (jobs) => pool.run(jobs, undefined),
    });
  }

  async seal(event: ValidEvent, now: Date): Promise<string> {
    const r = await this.batcher.add({ event, nowMs: now.getTime() });
    if ('error' in r) throw new Error(`sealing on a worker failed: ${r.error}`);
    return r.token;
  }

  /** Stops the workers once the batches already sent are sealed. */
  close(): Promise<void> {
    this.batcher.flush();
    return this.pool.close();
  }
}
