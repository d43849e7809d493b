import { watch, type FSWatcher } from 'node:fs';

import type { Logger } from 'pino';

export interface ChangeWatchOptions {
  /**
   * The directory watched. A mounted ConfigMap or Secret changes by a rename of its `..data` link in
   * this directory (kubelet's atomic swap): a watch on the directory sees it, a watch on a file it
   * names would keep watching the old, deleted target.
   */
  readonly dir: string;
  /** Checks this often whatever the file system reports (a watch misses changes on some mounts). */
  readonly pollMs: number;
  /** How logs name what is watched, e.g. "the agreements directory". */
  readonly what: string;
  readonly log: Logger;
  /** One look at what changed; never runs twice at once. A rejection goes to `onError`. */
  readonly check: () => Promise<void>;
  readonly onError: (e: unknown) => void;
  /** Whether a watch may be set now (e.g. not while the directory cannot be read); default: always. */
  readonly watchable?: () => boolean;
}

/**
 * Runs a check at every change the file system reports in a directory, and by polling as a fallback:
 * checks never overlap, and a change reported during a check runs one more after it. A watch that fails
 * (or cannot be set) leaves the polling; it is set again after a later check.
 */
export class ChangeWatch {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private watcher: FSWatcher | undefined;
  private watchWarned = false;
  private stopped = false;

  constructor(private readonly options: ChangeWatchOptions) {}

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(this.trigger, this.options.pollMs);
    this.watch();
  }

  /** Runs a check now (after the one running, if any). */
  readonly trigger = (): void => {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.options
      .check()
      .then(() => this.watch())
      .catch((e: unknown) => this.options.onError(e))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.trigger();
        }
      });
  };

  /** Drops the watch (e.g. on a directory that was removed and created again); a later check sets it. */
  unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private watch(): void {
    const { dir, log, what, watchable } = this.options;
    if (this.watcher !== undefined || this.stopped || watchable?.() === false) return;
    try {
      const watcher = watch(dir, this.trigger);
      watcher.on('error', (e: NodeJS.ErrnoException) => {
        log.warn({ code: e.code }, `watching ${what} failed; polling`);
        watcher.close();
        if (this.watcher === watcher) this.watcher = undefined;
      });
      this.watcher = watcher;
      this.watchWarned = false;
    } catch (e) {
      if (!this.watchWarned) {
        log.warn({ code: (e as NodeJS.ErrnoException).code }, `cannot watch ${what}; polling`);
      }
      this.watchWarned = true;
    }
  }

  /** Stops watching and polling; resolves when the check running (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unwatch();
    await this.running;
  }
}
