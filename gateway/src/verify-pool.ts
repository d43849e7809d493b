import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { ManifestBody } from '@wbx/registry';
import type { VerifyOutcome } from '@wbx/seal';

/**
 * The outcome of verifying one token in the pool: the verified event, or the refusal's code (INTERNAL:
 * the worker failed on it).
 */
export type PoolResult =
  VerifyOutcome | { readonly ok: false; readonly code: 'INTERNAL'; readonly detail: string };

interface Job {
  readonly id: number;
  readonly tokens: readonly string[];
  readonly nowMs: number;
}

interface Pending {
  resolve: (r: PoolResult[]) => void;
  reject: (e: Error) => void;
}

export interface VerifyPoolOptions {
  readonly manifest: ManifestBody;
  /** Worker threads; default: the machine's available parallelism. */
  readonly size?: number;
}

/**
 * Verifies presentations on worker threads, one per core, so that Ed25519 verification scales past one
 * core. Batches keep the message-passing cost per token small.
 */
export class VerifyPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private turn = 0;

  constructor(options: VerifyPoolOptions) {
    const size = options.size ?? availableParallelism();
    // Built: verify-worker.js beside this file; run from source (tests): verify-worker.ts, which Node
    // runs with type stripping.
    let url = new URL('./verify-worker.js', import.meta.url);
    if (!existsSync(fileURLToPath(url))) url = new URL('./verify-worker.ts', import.meta.url);
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(url, { workerData: { manifest: options.manifest } });
      w.on('message', (msg: { id: number; results: PoolResult[] }) => {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        p?.resolve(msg.results);
      });
      w.on('error', (e: Error) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Verifies a batch on the next worker; results in the batch's order. */
  verifyBatch(tokens: readonly string[], now: Date = new Date()): Promise<PoolResult[]> {
    const id = this.nextId++;
    const worker = this.workers[this.turn++ % this.workers.length];
    if (worker === undefined) return Promise.reject(new Error('the verify pool is closed'));
    return new Promise<PoolResult[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const job: Job = { id, tokens, nowMs: now.getTime() };
      worker.postMessage(job);
    });
  }

  /** Refuses new batches, lets the batches already sent finish, then stops the workers. */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    const sent = [...this.pending.values()].map(
      (p) =>
        new Promise<void>((resolve) => {
          const { resolve: done, reject } = p;
          p.resolve = (r) => {
            done(r);
            resolve();
          };
          p.reject = (e) => {
            reject(e);
            resolve();
          };
        }),
    );
    await Promise.all(sent);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
