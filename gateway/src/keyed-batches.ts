/** An item waiting for its key's next batch, and whoever waits for it. */
interface Waiting<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** A key's items waiting for the next batch, and whether a batch of the key is running. */
interface KeyState<T> {
  waiting: Waiting<T>[];
  running: boolean;
}

/**
 * Items per key, handled in batches: at most one batch of a key runs at a time, and the items that come
 * for it meanwhile (or within the turn of the event loop the first one came in) make its next batch.
 * Each `add` resolves when the batch that held its item succeeded, and rejects with that batch's error:
 * whoever waits for it learns that its own item was handled, never before. Keys with nothing waiting or
 * running are forgotten, so what is kept is bounded by the items in flight.
 */
export class KeyedBatches<T> {
  private readonly keys = new Map<string, KeyState<T>>();

  /** `run` handles one key's batch (all of it or none: a rejection fails every item of the batch). */
  constructor(private readonly run: (key: string, items: readonly T[]) => Promise<void>) {}

  /** Adds `item` to `key`'s next batch; resolves once that batch succeeded. */
  add(key: string, item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const state = this.keys.get(key) ?? { waiting: [], running: false };
      this.keys.set(key, state);
      state.waiting.push({ item, resolve, reject });
      if (state.running) return;
      state.running = true;
      // The first item waits for the end of its turn, so that those that come with it join its batch.
      setImmediate(() => void this.drain(key, state));
    });
  }

  /** Runs `key`'s batches until nothing waits for it. */
  private async drain(key: string, state: KeyState<T>): Promise<void> {
    while (state.waiting.length > 0) {
      const batch = state.waiting;
      state.waiting = [];
      try {
        await this.run(
          key,
          batch.map((w) => w.item),
        );
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    state.running = false;
    this.keys.delete(key);
  }
}
