import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NatsServerError } from './errors.js';
import { renderConfig } from './internal/config.js';
import type { ServerConfigInput } from './internal/config.js';
import { trackDir, untrackDir } from './internal/exit-cleanup.js';
import { launch, signalAndWait } from './internal/server-process.js';
import type { ServerProcess } from './internal/server-process.js';

export interface NatsServerOptions {
  /** The nats-server executable; default: env `WBX_NATS_SERVER`, else `nats-server` on PATH. */
  binary?: string;
  /** Enable JetStream with a file store in `storeDir`; default true. */
  jetstream?: boolean;
  /** Extra nats-server config appended verbatim (accounts, authorization, tls, …). */
  config?: string;
  /** `server_name` (JetStream uses it as the node name). */
  serverName?: string;
  /**
   * Reuse this JetStream store dir (the server keeps its data under `<storeDir>/jetstream`). It belongs to
   * the caller and is never removed; by default a fresh dir inside the launcher's temp dir is used.
   */
  storeDir?: string;
  /** Set `debug: true` and copy the server's log to this process's stderr. */
  debug?: boolean;
  /** How long to wait for the server to be ready, in ms; default 10 000. */
  startTimeout?: number;
}

/** A running `nats-server` child process; `await using` it, or call `[Symbol.asyncDispose]()`. */
export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`; the same after {@link restart}. */
  readonly url: string;
  readonly port: number;
  /** JetStream `store_dir`; kept by {@link kill}, {@link stop} and {@link restart}. */
  readonly storeDir: string;
  readonly configFile: string;
  /** pid of the current process (a new one after {@link restart}). */
  readonly pid: number;
  /** Whether the current process is still running. */
  readonly running: boolean;
  /** The last lines of the server's output (stdout and stderr). */
  output(): string;
  /** Sends `signal` (default SIGKILL: a crash) and waits for the process to exit; data is kept. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful shutdown: SIGTERM, then SIGKILL if still running after `timeoutMs` (default 5 000). */
  stop(timeoutMs?: number): Promise<void>;
  /**
   * Starts the server again with the same config, store dir and port (stopping it first if it runs) and
   * waits until it accepts connections.
   */
  restart(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;

/**
 * Starts a real `nats-server` on 127.0.0.1 and a random port, with a generated config file and (by
 * default) JetStream in a fresh temp dir. Rejects with {@link NatsServerError}.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = opts.binary ?? process.env['WBX_NATS_SERVER'] ?? 'nats-server';
  const workDir = await mkdtemp(join(tmpdir(), 'wbx-nats-'));
  trackDir(workDir);
  try {
    const portsFileDir = join(workDir, 'ports');
    const storeDir = opts.storeDir ?? join(workDir, 'store');
    await mkdir(portsFileDir);
    await mkdir(storeDir, { recursive: true });
    const config: ServerConfigInput = {
      port: -1,
      portsFileDir,
      jetstream: opts.jetstream ?? true,
      storeDir,
      serverName: opts.serverName,
      debug: opts.debug,
      extra: opts.config,
    };
    const configFile = join(workDir, 'nats-server.conf');
    await writeFile(configFile, renderConfig(config));
    const launchInput = {
      binary,
      configFile,
      portsFileDir,
      timeoutMs: opts.startTimeout ?? DEFAULT_START_TIMEOUT_MS,
      debug: opts.debug ?? false,
    };
    const proc = await launch(launchInput);
    // Later starts must come back on the same port; the store dir and config path are unchanged.
    await writeFile(configFile, renderConfig({ ...config, port: proc.port }));
    return new RunningNatsServer(proc, workDir, storeDir, launchInput);
  } catch (error) {
    await removeDir(workDir);
    throw error;
  }
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  untrackDir(dir);
}

class RunningNatsServer implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  #proc: ServerProcess;
  #disposed = false;

  constructor(
    proc: ServerProcess,
    private readonly workDir: string,
    readonly storeDir: string,
    private readonly launchInput: Parameters<typeof launch>[0],
  ) {
    this.#proc = proc;
    this.port = proc.port;
    this.url = `nats://127.0.0.1:${proc.port}`;
    this.configFile = launchInput.configFile;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  get running(): boolean {
    const { child, exit } = this.#proc;
    return exit === undefined && child.exitCode === null && child.signalCode === null;
  }

  output(): string {
    return this.#proc.output.toString();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await signalAndWait(this.#proc, signal);
  }

  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => {
      this.#proc.child.kill('SIGKILL');
    }, timeoutMs);
    try {
      await signalAndWait(this.#proc, 'SIGTERM');
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(): Promise<void> {
    if (this.#disposed) throw new Error('nats-server was disposed');
    await this.stop();
    // A SIGKILLed server leaves its ports file behind; the new process writes one with its own pid.
    const { portsFileDir } = this.launchInput;
    for (const name of await readdir(portsFileDir)) await unlink(join(portsFileDir, name));
    const proc = await launch(this.launchInput);
    if (proc.port !== this.port) {
      await signalAndWait(proc, 'SIGKILL');
      throw new NatsServerError(
        'NATS_START_FAILED',
        `nats-server restarted on port ${proc.port}, expected ${this.port}`,
      );
    }
    this.#proc = proc;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop();
    await removeDir(this.workDir);
  }
}
