import { spawn, type ChildProcess } from 'node:child_process';

import { trackChild } from './internal/exit-cleanup.js';

export interface ChildOptions {
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * In a process group of its own: disposing it then also kills what it started and left behind (a
   * gateway's embedded nats-server).
   */
  readonly group?: boolean;
}

/** A child process whose output is kept; `await using` it to stop it and whatever is left of it. */
export interface Child extends AsyncDisposable {
  readonly process: ChildProcess;
  /** Everything it wrote to stdout so far. */
  stdout(): string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Settles when it has exited: its exit code, or the name of the signal that ended it. */
  readonly exited: Promise<number | string>;
  /** Whether it still runs. */
  readonly running: boolean;
  /**
   * The first stdout line that `accept` takes (with its 0-based index); by default the first line. Rejects if
   * it exits first or after `timeoutMs` (default 20 s).
   */
  line(accept?: (line: string, index: number) => boolean, timeoutMs?: number): Promise<string>;
  /** Its exit code (or signal name); rejects if it still runs after `timeoutMs`. */
  exit(timeoutMs: number): Promise<number | string>;
  /** Sends `signal` to it (not its group) unless it has exited, and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<number | string>;
  /**
   * SIGTERM, SIGKILL if it still runs after `timeoutMs` (default 10 s); then, for a group, SIGKILL to
   * whatever of the group is left. What `[Symbol.asyncDispose]` does.
   */
  stop(timeoutMs?: number): Promise<void>;
}

const DEFAULT_LINE_TIMEOUT_MS = 20_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** `node <args>` with this process's Node: stdout and stderr piped and kept, stdin closed. */
export function spawnNode(args: readonly string[], options: ChildOptions = {}): Child {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
    env: { ...process.env, ...options.env },
  });
  trackChild(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  // After 'close' its output is complete.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const describe = (): string => `${child.spawnargs.slice(1, 3).join(' ')} (pid ${child.pid ?? '?'})`;

  const completeLines = (): string[] => out.split('\n').slice(0, -1);
  const line = (
    accept: (l: string, i: number) => boolean = () => true,
    timeoutMs = DEFAULT_LINE_TIMEOUT_MS,
  ) =>
    new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error): void => {
        const found = completeLines().find(accept);
        if (settled || (found === undefined && error === undefined)) return;
        settled = true;
        clearTimeout(timer);
        child.stdout.off('data', onData);
        if (found !== undefined) resolve(found);
        else if (error !== undefined) reject(error);
      };
      const onData = (): void => finish();
      const timer = setTimeout(() => {
        finish(new Error(`${describe()} printed no such line within ${timeoutMs} ms; stderr: ${err}`));
      }, timeoutMs);
      child.stdout.on('data', onData);
      void closed.then(() => {
        const how = String(child.exitCode ?? child.signalCode);
        finish(new Error(`${describe()} exited (${how}) before it printed such a line; stderr: ${err}`));
      });
      finish();
    });

  const exit = async (timeoutMs: number): Promise<number | string> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${describe()} still runs after ${timeoutMs} ms; stderr: ${err}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  const kill = async (signal: NodeJS.Signals): Promise<number | string> => {
    if (running()) child.kill(signal);
    return exited;
  };

  const stop = async (timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> => {
    const hard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      await kill('SIGTERM');
    } finally {
      clearTimeout(hard);
    }
    if (options.group === true && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
  };

  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    exited,
    get running() {
      return running();
    },
    line,
    exit,
    kill,
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/** The line `wbx gateway` prints on stdout once it serves. */
export interface GatewayReadyLine {
  readonly ready: true;
  readonly partner: string;
  /** Ingest, `host:port`. */
  readonly grpc: string;
  readonly http: string;
  /** The NATS it uses (its embedded nats-server's URL, or the configured one). */
  readonly nats: string;
  readonly exchange?: string;
}

const isReadyLine = (line: string): boolean => {
  try {
    return (JSON.parse(line) as { ready?: unknown }).ready === true;
  } catch {
    return false;
  }
};

/** The ready line of a `wbx gateway` child; rejects if it exits first or is not ready after `timeoutMs`. */
export async function gatewayReady(
  child: Child,
  timeoutMs = DEFAULT_LINE_TIMEOUT_MS,
): Promise<GatewayReadyLine> {
  return JSON.parse(await child.line(isReadyLine, timeoutMs)) as GatewayReadyLine;
}

/** A `wbx gateway` child that has printed its ready line. */
export interface GatewayProcess extends Child {
  readonly ready: GatewayReadyLine;
}

/**
 * `node <wbx> gateway <args>`, ready: resolves once it printed its ready line. One that exits first or is
 * not ready in time is killed, and the promise rejects with its stderr.
 */
export async function startGatewayProcess(
  wbx: string,
  args: readonly string[],
  options: ChildOptions & { readonly timeoutMs?: number } = {},
): Promise<GatewayProcess> {
  const child = spawnNode([wbx, 'gateway', ...args], options);
  try {
    return Object.assign(child, { ready: await gatewayReady(child, options.timeoutMs) });
  } catch (e) {
    await child.stop(0);
    throw e;
  }
}
