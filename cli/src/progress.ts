import type { Writable } from 'node:stream';

/** A one-line progress display on a terminal (count, rate, ETA when the total is known); silent elsewhere. */
export class Progress {
  private readonly started = performance.now();
  private last = 0;
  private count = 0;

  constructor(
    private readonly out: Writable,
    private readonly enabled: boolean,
    private readonly label: string,
    private readonly total?: number,
  ) {}

  tick(n = 1): void {
    this.count += n;
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 250) return;
    this.last = now;
    this.draw(now);
  }

  done(): void {
    if (!this.enabled) return;
    this.draw(performance.now());
    this.out.write('\n');
  }

  private draw(now: number): void {
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? this.count / seconds : 0;
    let line = `${this.label}: ${this.count.toLocaleString('en')}`;
    if (this.total !== undefined) {
      const pct = this.total > 0 ? Math.min(100, (100 * this.count) / this.total) : 100;
      const eta = rate > 0 ? Math.max(0, (this.total - this.count) / rate) : 0;
      line += ` / ${this.total.toLocaleString('en')} (${pct.toFixed(1)} %) ETA ${eta.toFixed(0)} s`;
    }
    line += ` · ${Math.round(rate).toLocaleString('en')}/s`;
    this.out.write(`\r\x1b[2K${line}`);
  }
}
