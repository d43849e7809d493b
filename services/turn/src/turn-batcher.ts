/** How a TurnBatcher hands over what it gathered. */
export interface TurnBatcherOptions<In, Out> {
  /** At most this many items go to `pooled` at once. */
  readonly maxBatch: number;
  /** Fewer items than this in a turn go one by one to `here`: handing them over costs more. */
  readonly minBatch: number;
  /** One item on the calling thread; may throw (that item fails). Without it, every batch is pooled. */
  readonly here?: (item: In) => Out;
  /** A batch elsewhere (a worker pool); results in the batch's order. A rejection fails the batch. */
  readonly pooled: (items: In[]) => Promise<Out[]>;
}

interface Waiting<In, Out> {
  readonly item: In;
  readonly resolve: (out: Out) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Gathers the calls made in one turn of the event loop and hands them over together: a backlog (a bulk
 * ingest, a consumer catching up) goes to the worker threads in batches, while a trickle is done right
 * here, which adds no hand-over latency. The seal pool and the receive worker's verification use it
 * (@wbx/audit's AuditBatcher commits in groups instead: what comes while a batch is stored waits).
 */
export class TurnBatcher<In, Out> {
  private waiting: Waiting<In, Out>[] = [];
  private scheduled = false;

  constructor(private readonly options: TurnBatcherOptions<In, Out>) {}

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length >= this.options.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Hands over what is waiting now. */
  flush(): void {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    const here = this.options.here;
    if (here !== undefined && batch.length < this.options.minBatch) {
      for (const w of batch) {
        try {
          w.resolve(here(w.item));
        } catch (e) {
          w.reject(e);
        }
      }
      return;
    }
    const fail = (e: unknown): void => {
      for (const w of batch) w.reject(e);
    };
    let results: Promise<Out[]>;
    try {
      results = this.options.pooled(batch.map((w) => w.item));
    } catch (e) {
      fail(e);
      return;
    }
    results.then((out) => {
      batch.forEach((w, i) => {
        if (i < out.length) w.resolve(out[i] as Out);
        else w.reject(new Error('the pool returned too few results'));
      });
    }, fail);
  }
}
