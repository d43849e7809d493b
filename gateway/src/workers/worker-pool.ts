import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * What a pool's worker receives: a batch and what holds for all of its items (the verify pool's clock;
 * nothing for the seal pool, whose items carry their own). It answers `{ id, results }`.
 */
export interface BatchJob<In, Context = undefined> {
  readonly id: number;
  readonly items: readonly In[];
  readonly context: Context;
}

interface Pending<Out> {
  resolve: (r: Out[]) => void;
  reject: (e: Error) => void;
  readonly worker: Worker;
}

/**
 * A worker's young generation, MB. Node 24's default lets each thread's grow to tens of MB (it is sized
 * for throughput, not memory); a worker's batches are short-lived garbage that small semi-spaces
 * collect as well, and every thread's RSS counts against the gateway's (`pnpm bench soak`).
 */
const WORKER_YOUNG_GENERATION_MB = 8;

/**
 * Batches of work on worker threads, round robin: the verify pool and the seal pool. `script` is the
 * worker's module beside this file without its extension: `<script>.js` when built, `<script>.ts` when
 * run from source (tests), which Node runs with type stripping. A worker that dies fails the batches it
 * held and is replaced, so that no later batch waits on a dead thread.
 */
export class WorkerPool<In, Out, Context = undefined> {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending<Out>>();
  private readonly url: URL;
  private closed = false;
  private nextId = 0;
  private turn = 0;

  constructor(
    private readonly name: string,
    script: string,
    private readonly workerData: unknown,
    size: number,
  ) {
    let url = new URL(`./${script}.js`, import.meta.url);
    if (!existsSync(fileURLToPath(url))) url = new URL(`./${script}.ts`, import.meta.url);
    this.url = url;
    this.workers = Array.from({ length: size }, () => this.spawn());
  }

  private spawn(): Worker {
    const w = new Worker(this.url, {
      workerData: this.workerData,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    w.on('message', (msg: { id: number; results: Out[] }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      p?.resolve(msg.results);
    });
    let failure: Error | undefined;
    w.on('error', (e: Error) => {
      failure = e;
    });
    w.on('exit', (code) => {
      const e = failure ?? new Error(`a ${this.name} worker exited (${code})`);
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue;
        this.pending.delete(id);
        p.reject(e);
      }
      const i = this.workers.indexOf(w);
      if (i !== -1 && !this.closed) this.workers[i] = this.spawn();
    });
    return w;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Runs a batch on the next worker; results in the batch's order. */
  run(items: readonly In[], context: Context): Promise<Out[]> {
    const id = this.nextId++;
    const worker = this.workers[this.turn++ % this.workers.length];
    if (worker === undefined) return Promise.reject(new Error(`the ${this.name} pool is closed`));
    return new Promise<Out[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      const job: BatchJob<In, Context> = { id, items, context };
      worker.postMessage(job);
    });
  }

  /** Refuses new batches, lets the batches already sent finish, then stops the workers. */
  async close(): Promise<void> {
    this.closed = true;
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
