import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  launchNatsServer,
  natsServerConfig,
  NatsServerError,
  type NatsServerProcess,
} from '@wbx/nats-server';
import type { Logger } from 'pino';

import { ConfigError } from './config.js';
import { ORIGIN_ACCOUNT } from './nats-layout.js';

export interface EmbeddedNatsOptions {
  /** The gateway's data directory; the server keeps its config, pid and JetStream store under `nats/`. */
  readonly dataDir: string;
  readonly binary: string;
  readonly log: Logger;
  /** Extra nats-server configuration text (authorization, TLS) to start with, appended verbatim. */
  readonly extraConfig?: string;
  /** The client port (`nats.port`); default: the one kept in `<data>/nats/port`, else a free one. */
  readonly port?: number;
}

/** How long a start may take until the server accepts clients, and a stop until it has exited. */
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export class EmbeddedNatsError extends Error {
  constructor(
    readonly code: 'NATS_BINARY_NOT_FOUND' | 'NATS_START_FAILED',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether nothing listens on this loopback port now (the server can take it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '127.0.0.1', port }, () => probe.close(() => resolve(true)));
  });
}

/** The accounts a configuration text declares (`NAME: {` inside `accounts {`). */
function accountsOf(config: string): Set<string> {
  return new Set([...config.matchAll(/^ {2}([A-Za-z0-9_$]+): \{/gm)].map((m) => m[1] ?? ''));
}

/**
 * The gateway's own nats-server (JetStream, file storage under the data directory), for a partner that
 * runs no NATS of its own. Started on the configured port (`nats.port`), else on the one it took at its
 * first start (kept in `<data>/nats/port`), else on a free loopback port that is then kept: recipients
 * find it at the same URL after any restart, of the server or of the gateway. If
 * it dies it is restarted; a server left behind by a gateway that was killed is stopped first, so two
 * servers never share one store.
 */
export class EmbeddedNats {
  private server: NatsServerProcess | undefined;
  private port = -1;
  private stopping = false;
  private readonly dir: string;
  /** The extra configuration the server runs with: the one it started with, then each reload's. */
  private extraConfig: string;

  constructor(private readonly options: EmbeddedNatsOptions) {
    this.dir = join(options.dataDir, 'nats');
    this.extraConfig = options.extraConfig ?? '';
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private get pidFile(): string {
    return join(this.dir, 'nats-server.pid');
  }

  private get portFile(): string {
    return join(this.dir, 'port');
  }

  async start(): Promise<string> {
    await mkdir(join(this.dir, 'store'), { recursive: true });
    await this.stopLeftover();
    await this.migrateGlobalAccount();
    this.port = this.options.port ?? (await this.keptPort()) ?? -1; // -1: any free port
    if (this.port !== -1 && !(await portFree(this.port))) {
      const kept = this.options.port === undefined ? ` (kept in ${this.portFile} since its first start)` : '';
      throw new ConfigError([
        {
          path: 'nats.port',
          message: `port ${String(this.port)}${kept} of the embedded nats-server is taken by another process`,
        },
      ]);
    }
    await this.spawnServer();
    await writeFile(this.portFile, `${String(this.port)}\n`);
    return this.url;
  }

  /** The port the server took at an earlier start, if any. */
  private async keptPort(): Promise<number | undefined> {
    if (!existsSync(this.portFile)) return undefined;
    const text = (await readFile(this.portFile, 'utf8')).trim();
    const port = Number(text);
    if (Number.isInteger(port) && port > 0 && port <= 65_535) return port;
    throw new ConfigError([{ path: 'nats.port', message: `${this.portFile} holds no port: ${text}` }]);
  }

  /**
   * Gateways before the account model kept their streams in the server's global account (`$G`); they now
   * live in the origin's account {@link ORIGIN_ACCOUNT}. With the server stopped, the store of the one is
   * moved to the other once, so that no event, audit entry or state is left behind.
   */
  private async migrateGlobalAccount(): Promise<void> {
    const js = join(this.dir, 'store', 'jetstream');
    const from = join(js, '$G');
    const to = join(js, ORIGIN_ACCOUNT);
    if (!existsSync(from) || existsSync(to)) return;
    await rename(from, to);
    this.options.log.warn(
      { from, to },
      'moved the JetStream store of the global account to the origin account',
    );
  }

  private async stopLeftover(): Promise<void> {
    if (!existsSync(this.pidFile)) return;
    const pid = Number((await readFile(this.pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
    let cmdline: string;
    try {
      cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (!cmdline.includes(join(this.dir, 'nats-server.conf'))) return;
    this.options.log.warn({ pid }, 'stopping a nats-server left behind by an earlier gateway');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  }

  private async writeConfig(): Promise<string> {
    const file = join(this.dir, 'nats-server.conf');
    const config = natsServerConfig({
      port: this.port,
      portsFileDir: this.dir,
      serverName: 'wbx_embedded',
      pidFile: this.pidFile,
      storeDir: join(this.dir, 'store'),
      extra: this.extraConfig,
    });
    await writeFile(file, config);
    return file;
  }

  private async spawnServer(): Promise<void> {
    const configFile = await this.writeConfig();
    const { binary } = this.options;
    let proc: NatsServerProcess;
    try {
      proc = await launchNatsServer({
        binary,
        configFile,
        portsFileDir: this.dir,
        timeoutMs: START_TIMEOUT_MS,
      });
    } catch (e) {
      if (!(e instanceof NatsServerError)) throw e;
      const code = e.code === 'NATS_BINARY_NOT_FOUND' ? e.code : 'NATS_START_FAILED';
      throw new EmbeddedNatsError(code, e.message, { cause: e });
    }
    this.server = proc;
    this.port = proc.port;
    void proc.closed.then(({ code, signal }) => {
      if (this.stopping || this.server !== proc) return;
      this.options.log.error(
        { code, signal, stderr: proc.output().slice(-500) },
        'embedded nats-server died; restarting',
      );
      void this.restartLater();
    });
    this.options.log.info({ url: this.url, pid: proc.pid }, 'embedded nats-server ready');
  }

  private isStopping(): boolean {
    return this.stopping;
  }

  private async restartLater(): Promise<void> {
    for (let attempt = 1; !this.isStopping(); attempt++) {
      await sleep(Math.min(5_000, 200 * attempt));
      if (this.isStopping()) return;
      try {
        await this.spawnServer();
        return;
      } catch (e) {
        this.options.log.error({ err: e, attempt }, 'embedded nats-server restart failed');
      }
    }
  }

  /**
   * Rewrites the configuration with new extra text (e.g. changed users) and has the server take it: a
   * reload (SIGHUP) when no account is added — a revocation takes effect at once, without a restart — and
   * a restart on the same port when one is: nats-server does not wire the service imports of an account
   * that a reload adds (seen on 2.9.10 and 2.10.27: the new recipient's requests find no responders), so a
   * new recipient could never pull.
   */
  async reload(extraConfig: string): Promise<void> {
    const before = accountsOf(this.extraConfig);
    this.extraConfig = extraConfig;
    await this.writeConfig();
    const server = this.server;
    if (server === undefined || this.stopping) return;
    const added = [...accountsOf(extraConfig)].filter((a) => !before.has(a));
    if (added.length === 0) {
      server.signal('SIGHUP');
      this.options.log.info('embedded nats-server configuration reloaded');
      return;
    }
    this.server = undefined; // its exit is no crash: not restarted by the watch on it
    await server.stop(STOP_TIMEOUT_MS);
    await this.spawnServer();
    this.options.log.info('embedded nats-server restarted with the new accounts');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.server?.stop(STOP_TIMEOUT_MS);
  }
}
