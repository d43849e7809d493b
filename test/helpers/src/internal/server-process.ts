import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

import { NatsServerError } from '../errors.js';
import { trackChild } from './exit-cleanup.js';
import { OutputTail } from './output-tail.js';
import { poll, readPortsFile, tcpAccepts } from './wait.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running nats-server process: started, ready, and watched until it exits. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly output: OutputTail;
  /** Settles when the process has exited and its output streams are closed. */
  readonly closed: Promise<Exit>;
  /** Set once the process has exited and its output streams are closed. */
  readonly exit: Exit | undefined;
}

export interface LaunchInput {
  binary: string;
  configFile: string;
  portsFileDir: string;
  timeoutMs: number;
  debug: boolean;
}

const describeExit = (exit: Exit): string =>
  exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? 'unknown'}`;

const withTail = (message: string, output: OutputTail): string => {
  const tail = output.toString();
  return tail === '' ? message : `${message}; server output:\n${tail}`;
};

/**
 * Starts `binary -c configFile` and resolves once it has written its ports file and accepts TCP
 * connections. Rejects with a {@link NatsServerError} (the process is then gone) otherwise.
 */
export async function launch(input: LaunchInput): Promise<ServerProcess> {
  const output = new OutputTail();
  const child = spawn(input.binary, ['-c', input.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const spawned = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => {
      resolve(undefined);
    });
    child.once('error', resolve);
  });
  // Later 'error' events (e.g. a failed kill) must not crash the test process.
  child.on('error', (error) => {
    output.push(`[launcher] ${error.message}\n`);
  });
  if (spawned !== undefined) {
    const code = spawned.code === 'ENOENT' ? 'NATS_BINARY_NOT_FOUND' : 'NATS_START_FAILED';
    throw new NatsServerError(code, `cannot run nats-server binary ${JSON.stringify(input.binary)}`, {
      cause: spawned,
    });
  }
  trackChild(child);
  const pid = child.pid;
  if (pid === undefined) throw new NatsServerError('NATS_START_FAILED', 'nats-server has no pid');

  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      output.push(chunk);
      if (input.debug) process.stderr.write(chunk);
    });
  }
  const state: { exit: Exit | undefined } = { exit: undefined };
  const closed = new Promise<Exit>((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      state.exit = { code, signal };
      resolve(state.exit);
    });
  });

  const deadline = Date.now() + input.timeoutMs;
  const exited = (): boolean =>
    state.exit !== undefined || child.exitCode !== null || child.signalCode !== null;
  const port = await poll(() => readPortsFile(input.portsFileDir, pid), deadline, exited);
  const ready =
    port !== undefined &&
    (await poll(async () => ((await tcpAccepts(port)) ? true : undefined), deadline, exited)) === true;

  if (port === undefined || !ready) {
    if (exited()) {
      const exit = await closed;
      throw new NatsServerError(
        'NATS_START_FAILED',
        withTail(`nats-server (pid ${pid}) ${describeExit(exit)} before it was ready`, output),
      );
    }
    child.kill('SIGKILL');
    await closed;
    const what = port === undefined ? 'write its ports file' : `accept connections on port ${port}`;
    throw new NatsServerError(
      'NATS_START_TIMEOUT',
      withTail(`nats-server (pid ${pid}) did not ${what} within ${input.timeoutMs} ms`, output),
    );
  }

  return {
    child,
    pid,
    port,
    output,
    closed,
    get exit() {
      return state.exit;
    },
  };
}

/** Sends `signal` unless the process already exited, then waits for it to exit. */
export async function signalAndWait(proc: ServerProcess, signal: NodeJS.Signals): Promise<Exit> {
  if (proc.exit === undefined && proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill(signal);
  }
  return proc.closed;
}
