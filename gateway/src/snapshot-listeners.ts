/**
 * The listeners of a watched snapshot (the manifest, the agreements). Each new snapshot is handed to
 * every listener in turn; if one fails, all get the current snapshot again at the next `deliver()`.
 */
export class SnapshotListeners<T> {
  private readonly listeners = new Set<(snapshot: T) => Promise<void> | void>();
  /** The current snapshot has not reached every listener yet (new, or one failed): delivered again. */
  private undelivered = false;

  /**
   * @param current the snapshot now (read again after delivering: a newer one stays undelivered)
   * @param onError what a listener's failure does (it is retried at the next `deliver()`)
   */
  constructor(
    private readonly current: () => T,
    private readonly onError: (error: unknown) => void,
  ) {}

  subscribe(listener: (snapshot: T) => Promise<void> | void): Disposable {
    // Wrapped, so that the same function subscribed twice is two subscriptions.
    const entry = (s: T): Promise<void> | void => listener(s);
    this.listeners.add(entry);
    return { [Symbol.dispose]: () => this.listeners.delete(entry) };
  }

  /** The current snapshot is new: the next `deliver()` hands it to every listener. */
  changed(): void {
    this.undelivered = true;
  }

  /** Hands the current snapshot to each listener in turn, unless all have it already. */
  async deliver(): Promise<void> {
    if (!this.undelivered) return;
    const snapshot = this.current();
    try {
      for (const listener of [...this.listeners]) await listener(snapshot);
      if (snapshot === this.current()) this.undelivered = false;
    } catch (e) {
      this.onError(e);
    }
  }
}
