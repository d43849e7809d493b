/**
 * Runs tasks with at most `size` in flight: `run` waits for a free place, then starts the task without
 * waiting for it; `drain` waits for every task started.
 */
export class Window {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private idle: (() => void) | undefined;

  constructor(private readonly size: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    while (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    void task().finally(() => {
      this.active -= 1;
      this.waiting.shift()?.();
      if (this.active === 0) this.idle?.();
    });
  }

  async drain(): Promise<void> {
    if (this.active === 0) return;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
    });
  }
}
