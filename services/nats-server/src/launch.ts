import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { NatsServerError } from './errors.js';
import { OutputTail } from './internal/output-tail.js';
import { poll, readPortsFile, tcpAccepts } from './internal/wait.js';

/** How a process ended. */
export interface NatsServerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LaunchOptions {
  /** The nats-server executable (a path, or a name on PATH). */
  readonly binary: string;
  readonly configFile: string;
  /** The configuration's `ports_file_dir`; ports files left there by earlier servers are removed first. */
  readonly portsFileDir: string;
  /** How long to wait for the server to be ready, in ms. */
  readonly timeoutMs: number;
  /** Copy the server's output to this process's stderr. */
  readonly echo?: boolean;
  /** More command-line arguments after `-c configFile`. */
  readonly args?: readonly string[];
  /** Environment variables set for the server (over this process's own), e.g. those its config names. */
  readonly env?: Readonly<Record<string, string>>;
}

/** One running nats-server process: started, ready, and watched until it exits. */
export interface NatsServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The client port it announced in its ports file. */
  readonly port: number;
  /** Settles when the process has exited and its output streams are closed. */
  readonly closed: Promise<NatsServerExit>;
  /** Whether the process is still running. */
  readonly running: boolean;
  /** The last lines of the server's output (stdout and stderr). */
  output(): string;
  /** Sends `signal` (e.g. SIGHUP: reload the configuration) unless the process has exited. */
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` unless the process has exited, then waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<NatsServerExit>;
  /** Graceful shutdown: SIGTERM, then SIGKILL if it still runs after `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

const describeExit = (exit: NatsServerExit): string =>
  exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? 'unknown'}`;

const withTail = (message: string, output: OutputTail): string => {
  const tail = output.toString();
  return tail === '' ? message : `${message}; server output:\n${tail}`;
};

/**
 * Starts `binary -c configFile` and resolves once the server has written its ports file and accepts TCP
 * connections on that port. Rejects with a {@link NatsServerError} (the process is then gone) otherwise.
 */
export async function launchNatsServer(options: LaunchOptions): Promise<NatsServerProcess> {
  const { portsFileDir } = options;
  for (const name of await readdir(portsFileDir)) {
    if (name.endsWith('.ports')) await rm(join(portsFileDir, name), { force: true });
  }
  const output = new OutputTail();
  const child = spawn(options.binary, ['-c', options.configFile, ...(options.args ?? [])], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawned = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => {
      resolve(undefined);
    });
    child.once('error', resolve);
  });
  // Later 'error' events (e.g. a failed kill) must not crash the process that launched it.
  child.on('error', (error) => {
    output.push(`[launcher] ${error.message}\n`);
  });
  if (spawned !== undefined) {
    const code = spawned.code === 'ENOENT' ? 'NATS_BINARY_NOT_FOUND' : 'NATS_START_FAILED';
    throw new NatsServerError(code, `cannot run nats-server binary ${JSON.stringify(options.binary)}`, {
      cause: spawned,
    });
  }
  const pid = child.pid;
  if (pid === undefined) throw new NatsServerError('NATS_START_FAILED', 'nats-server has no pid');

  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      output.push(chunk);
      if (options.echo === true) process.stderr.write(chunk);
    });
  }
  let exit: NatsServerExit | undefined;
  const closed = new Promise<NatsServerExit>((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  const exited = (): boolean => exit !== undefined || child.exitCode !== null || child.signalCode !== null;

  const deadline = Date.now() + options.timeoutMs;
  const port = await poll(() => readPortsFile(portsFileDir, pid), deadline, exited);
  const ready =
    port !== undefined &&
    (await poll(async () => ((await tcpAccepts(port)) ? true : undefined), deadline, exited)) === true;
  if (port === undefined || !ready) {
    if (exited()) {
      const message = `nats-server (pid ${pid}) ${describeExit(await closed)} before it was ready`;
      throw new NatsServerError('NATS_START_FAILED', withTail(message, output));
    }
    child.kill('SIGKILL');
    await closed;
    const what = port === undefined ? 'write its ports file' : `accept connections on port ${port}`;
    throw new NatsServerError(
      'NATS_START_TIMEOUT',
      withTail(`nats-server (pid ${pid}) did not ${what} within ${options.timeoutMs} ms`, output),
    );
  }

  const signal = (name: NodeJS.Signals): void => {
    if (!exited()) child.kill(name);
  };
  return {
    child,
    pid,
    port,
    closed,
    get running() {
      return !exited();
    },
    output: () => output.toString(),
    signal,
    async kill(name) {
      signal(name);
      return closed;
    },
    async stop(timeoutMs) {
      if (exited()) return;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, timeoutMs);
      try {
        signal('SIGTERM');
        await closed;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
