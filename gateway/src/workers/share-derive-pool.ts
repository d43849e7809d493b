import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { ActiveAgreement, PartnerPolicy } from '@wbx/agreements';
import { TurnBatcher } from '@wbx/turn';

import { deriveShares, type DerivedEvent } from '../share-derive.js';
import type { StreamRefs } from '../stream-refs.js';
import { WorkerPool } from './worker-pool.js';

/** One event for a share-derive worker: the origin's sealed event (UTF-8), the time to share it at. */
export interface DeriveJob {
  readonly token: Uint8Array;
  readonly nowMs: number;
  /** Which policy snapshot it is shared under (see {@link DeriveContext}). */
  readonly snapshot: number;
}

/** What holds for a batch: the agreements of the policy its events are shared under. */
export interface DeriveContext {
  readonly snapshot: number;
  readonly agreements: readonly ActiveAgreement[];
}

export type DeriveResult = { readonly event: DerivedEvent } | { readonly error: string };

export interface ShareDerivePoolOptions {
  /** This node's partner: the origin of the events shared. */
  readonly partner: string;
  /** The file of the node's subject-reference secret (`Pseudonyms.open`), read by each worker. */
  readonly secretFile: string;
  /** Keys and signs the references on this thread (a trickle), as the workers do with the same secret. */
  readonly refs: StreamRefs;
  /** Worker threads (at least 1). */
  readonly size: number;
}

/**
 * The worker's built module, from src/workers/ (tests) as from dist/workers/: it imports the gateway's own
 * modules (deriveShares, Pseudonyms), which Node's type stripping cannot run from source.
 */
const WORKER = '../../dist/workers/share-derive-worker';

const UTF8 = new TextDecoder();

/** Fewer events than this in a turn are derived on the calling thread: posting them costs more. */
const POOL_MIN_BATCH = 4;
/** The most events one worker gets at once. */
const MAX_BATCH = 32;

/**
 * Runs the CPU part of sharing (`deriveShares`: parse, policy, presentations, reference bindings) on
 * worker threads for what arrives together, so that the gateway's main thread keeps to NATS, the audit
 * and ingest. A turn with only a few events (a trickle) is derived right here, which adds no hand-over
 * latency. The policy goes with each batch; a worker rebuilds it when the snapshot changes.
 */
export class ShareDerivePool {
  /** Whether the worker is built (a checkout that was never built derives on the main thread). */
  static available(): boolean {
    return existsSync(fileURLToPath(new URL(`${WORKER}.js`, import.meta.url)));
  }

  private readonly pool: WorkerPool<DeriveJob, DeriveResult, DeriveContext>;
  private readonly batcher: TurnBatcher<DeriveJob, DeriveResult>;
  private readonly policies = new WeakMap<PartnerPolicy, number>();
  private readonly byId = new Map<number, PartnerPolicy>();
  private nextSnapshot = 0;
  private onWorkers = 0;

  constructor(options: ShareDerivePoolOptions) {
    const { partner, secretFile, refs, size } = options;
    const { kid, privateKey } = refs.signer;
    const pool = new WorkerPool<DeriveJob, DeriveResult, DeriveContext>(
      'share-derive',
      WORKER,
      { partner, secretFile, kid, privateKey },
      Math.max(1, size),
    );
    this.pool = pool;
    const here = ({ token, nowMs, snapshot }: DeriveJob): DeriveResult => {
      const policy = this.byId.get(snapshot);
      if (policy === undefined) return { error: 'the policy snapshot is gone' };
      return { event: deriveShares(UTF8.decode(token), partner, policy, refs, new Date(nowMs)) };
    };
    this.batcher = new TurnBatcher<DeriveJob, DeriveResult>({
      maxBatch: MAX_BATCH,
      minBatch: POOL_MIN_BATCH,
      here,
      pooled: async (jobs) => {
        // One policy a batch: the (rare) events asked under another snapshot are derived here.
        const snapshot = jobs[0]?.snapshot ?? 0;
        const policy = this.byId.get(snapshot);
        const sent = jobs.filter((j) => j.snapshot === snapshot);
        const out =
          policy === undefined || sent.length === 0
            ? []
            : await pool.run(sent, { snapshot, agreements: policy.agreements });
        this.onWorkers += out.length;
        let i = 0;
        return jobs.map((j) => {
          if (j.snapshot !== snapshot) return here(j);
          return out[i++] ?? { error: 'the pool returned too few results' };
        });
      },
    });
  }

  /** How many events were derived on the worker threads so far. */
  get derivedOnWorkers(): number {
    return this.onWorkers;
  }

  /**
   * `deriveShares` of `token` (its UTF-8 bytes, copied: a message's data may be a view of a larger
   * buffer) under `policy` at `now`, here or on a worker.
   */
  async derive(token: Uint8Array, policy: PartnerPolicy, now: Date): Promise<DerivedEvent> {
    let snapshot = this.policies.get(policy);
    if (snapshot === undefined) {
      snapshot = this.nextSnapshot++;
      this.policies.set(policy, snapshot);
      // Only the newest policies are kept by id: an older one is derived no more once its events are.
      this.byId.set(snapshot, policy);
      for (const id of this.byId.keys()) if (id < snapshot - 4) this.byId.delete(id);
    }
    const r = await this.batcher.add({ token: token.slice(), nowMs: now.getTime(), snapshot });
    if ('error' in r) throw new Error(`deriving the presentations failed: ${r.error}`);
    return r.event;
  }

  /** Stops the workers once the batches already sent are derived. */
  close(): Promise<void> {
    this.batcher.flush();
    return this.pool.close();
  }
}
