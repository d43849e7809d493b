import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import {
  launchNatsServer,
  natsServerConfig,
  NatsServerError,
  type LaunchOptions,
  type NatsServerConfig,
  type NatsServerProcess,
} from '@wbx/nats-server';

import { trackChild, trackDir, untrackDir } from './internal/exit-cleanup.js';

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

/** Launches the server; it is SIGKILLed if the test process exits while it still runs. */
async function launch(options: LaunchOptions): Promise<NatsServerProcess> {
  const proc = await launchNatsServer(options);
  trackChild(proc.child);
  return proc;
}

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
    const config: NatsServerConfig = {
      port: -1,
      portsFileDir,
      storeDir: (opts.jetstream ?? true) ? storeDir : undefined,
      serverName: opts.serverName,
      debug: opts.debug,
      extra: opts.config,
    };
    const configFile = join(workDir, 'nats-server.conf');
    await writeFile(configFile, natsServerConfig(config));
    const timeoutMs = opts.startTimeout ?? DEFAULT_START_TIMEOUT_MS;
    const launchOptions = { binary, configFile, portsFileDir, timeoutMs, echo: opts.debug ?? false };
    const proc = await launch(launchOptions);
    // Later starts must come back on the same port; the store dir and config path are unchanged.
    await writeFile(configFile, natsServerConfig({ ...config, port: proc.port }));
    return new RunningNatsServer(proc, workDir, storeDir, launchOptions);
  } catch (error) {
    await removeDir(workDir);
    throw error;
  }
}

/** A nats-server booted from a config file the caller wrote, with the environment variables it names. */
export interface NatsServerFromFileOptions {
  readonly binary?: string;
  /** The config file; its directory is the server's own and is removed on dispose. */
  readonly configFile: string;
  /** The config's JetStream `store_dir`, kept across kill and restart. */
  readonly storeDir: string;
  /** Environment variables for the server (those the config file names). */
  readonly env: Readonly<Record<string, string>>;
  readonly debug?: boolean;
  readonly startTimeout?: number;
}

/**
 * Starts `nats-server -c configFile` with `env` set (a config that takes its values from environment
 * variables, such as deploy/k8s/base/nats/nats.conf); the file must fix the client port, so that a restart
 * comes back on it. The config file's directory belongs to the server from now on.
 */
export async function startNatsServerFromFile(opts: NatsServerFromFileOptions): Promise<NatsServer> {
  const workDir = dirname(opts.configFile);
  trackDir(workDir);
  try {
    const portsFileDir = join(workDir, 'ports');
    await mkdir(portsFileDir, { recursive: true });
    const launchOptions: LaunchOptions = {
      binary: opts.binary ?? process.env['WBX_NATS_SERVER'] ?? 'nats-server',
      configFile: opts.configFile,
      portsFileDir,
      timeoutMs: opts.startTimeout ?? DEFAULT_START_TIMEOUT_MS,
      echo: opts.debug ?? false,
      args: ['--ports_file_dir', portsFileDir, ...(opts.debug === true ? ['-D'] : [])],
      env: opts.env,
    };
    const proc = await launch(launchOptions);
    return new RunningNatsServer(proc, workDir, opts.storeDir, launchOptions);
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
  #proc: NatsServerProcess;
  #disposed = false;

  constructor(
    proc: NatsServerProcess,
    private readonly workDir: string,
    readonly storeDir: string,
    private readonly launchOptions: LaunchOptions,
  ) {
    this.#proc = proc;
    this.port = proc.port;
    this.url = `nats://127.0.0.1:${proc.port}`;
    this.configFile = launchOptions.configFile;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#proc.running;
  }

  output(): string {
    return this.#proc.output();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#proc.kill(signal);
  }

  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    await this.#proc.stop(timeoutMs);
  }

  async restart(): Promise<void> {
    if (this.#disposed) throw new Error('nats-server was disposed');
    await this.stop();
    const proc = await launch(this.launchOptions);
    if (proc.port !== this.port) {
      await proc.kill('SIGKILL');
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
