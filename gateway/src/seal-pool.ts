import type { KeyObject } from 'node:crypto';

import type { ValidEvent } from '@wbx/schema';
import type { Sealer } from '@wbx/seal';

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

interface Waiting {
  readonly event: ValidEvent;
  readonly nowMs: number;
  readonly resolve: (token: string) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Seals on worker threads what arrives together. The events submitted in one turn of the event loop go
 * out in batches to the workers, round robin; a turn with only a few (a trickle of submissions) is sealed
 * right here with `local`, which adds no hand-over latency. The same key seals on every thread.
 */
export class SealPool {
  private readonly pool: WorkerPool<{ event: ValidEvent; nowMs: number }, SealResult>;
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(
    options: SealPoolOptions,
    private readonly local: Sealer,
  ) {
    const { issuer, kid, privateKey, size } = options;
    this.pool = new WorkerPool('seal', 'seal-worker', { issuer, kid, privateKey }, Math.max(1, size));
  }

  get size(): number {
    return this.pool.size;
  }

  seal(event: ValidEvent, now: Date): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.waiting.push({ event, nowMs: now.getTime(), resolve, reject });
      if (this.waiting.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    if (batch.length < POOL_MIN_BATCH) {
      for (const w of batch) {
        try {
          w.resolve(this.local.seal(w.event, { now: new Date(w.nowMs) }));
        } catch (e) {
          w.reject(e);
        }
      }
      return;
    }
    this.pool
      .run(
        batch.map(({ event, nowMs }) => ({ event, nowMs })),
        new Date(),
      )
      .then(
        (results) => {
          results.forEach((r, i) => {
            const w = batch[i] as Waiting;
            if ('token' in r) w.resolve(r.token);
            else w.reject(new Error(`sealing on a worker failed: ${r.error}`));
          });
        },
        (e: unknown) => {
          for (const w of batch) w.reject(e);
        },
      );
  }

  /** Stops the workers once the batches already sent are sealed. */
  close(): Promise<void> {
    this.flush();
    return this.pool.close();
  }
}
