export interface PeriodicOptions {
  /** How often `run` is started. */
  readonly everyMs: number;
  /** Runs `run` once at `start()` as well, not only after the first interval. */
  readonly immediately: boolean;
  /** What a failed run does (the next interval runs again). */
  readonly onError: (error: unknown) => void;
}

/**
 * Runs a check at regular intervals, one run at a time: an interval that comes while the last run is
 * still going is skipped. The timer does not keep the process alive; `stop()` waits for the run under way.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly options: PeriodicOptions,
  ) {}

  start(): void {
    const tick = (): void => {
      this.running ??= this.run()
        .then(() => undefined)
        .catch(this.options.onError)
        .finally(() => {
          this.running = undefined;
        });
    };
    if (this.options.immediately) tick();
    this.timer = setInterval(tick, this.options.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
