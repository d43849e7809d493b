import { availableParallelism } from 'node:os';

import type { ManifestBody } from '@wbx/registry';
import type { VerifyOutcome } from '@wbx/seal';

import { WorkerPool } from './worker-pool.js';

/**
 * The outcome of verifying one token in the pool: the verified event, or the refusal's code (INTERNAL:
 * the worker failed on it).
 */
export type PoolResult =
  VerifyOutcome | { readonly ok: false; readonly code: 'INTERNAL'; readonly detail: string };

export interface VerifyPoolOptions {
  readonly manifest: ManifestBody;
  /** Worker threads; default: the machine's available parallelism. */
  readonly size?: number;
  /**
   * The claims a result carries back (default: all of them); its envelope (eventId, type, issuer,
   * issuedAt) always does. Copying the claims between threads costs time on both; a caller that needs
   * only a few names them.
   */
  readonly claims?: readonly string[];
}

/**
 * Verifies presentations on worker threads, one per core, so that Ed25519 verification scales past one
 * core. Batches keep the message-passing cost per token small.
 */
export class VerifyPool {
  private readonly pool: WorkerPool<string, PoolResult, number>;

  constructor(options: VerifyPoolOptions) {
    const size = options.size ?? availableParallelism();
    this.pool = new WorkerPool(
      'verify',
      'verify-worker',
      { manifest: options.manifest, claims: options.claims },
      size,
    );
  }

  get size(): number {
    return this.pool.size;
  }

  /** Verifies a batch on the next worker; results in the batch's order. */
  verifyBatch(tokens: readonly string[], now: Date = new Date()): Promise<PoolResult[]> {
    return this.pool.run(tokens, now.getTime());
  }

  /** Refuses new batches, lets the batches already sent finish, then stops the workers. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
