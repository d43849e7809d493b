import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Logger } from 'pino';

import { ORIGIN_ACCOUNT } from './nats-layout.js';

export interface EmbeddedNatsOptions {
  /** The gateway's data directory; the server keeps its config, pid and JetStream store under `nats/`. */
  readonly dataDir: string;
  readonly binary: string;
  readonly log: Logger;
  /** Extra nats-server configuration text (authorization, TLS) to start with, appended verbatim. */
  readonly extraConfig?: string;
}

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

/**
 * The gateway's own nats-server (JetStream, file storage under the data directory), for a partner that
 * runs no NATS of its own. Started on a free loopback port, then kept on that port across restarts; if
 * it dies it is restarted; a server left behind by a gateway that was killed is stopped first, so two
 * servers never share one store.
 */
export class EmbeddedNats {
  private child: ChildProcess | undefined;
  private port = -1;
  private stopping = false;
  private stderrTail = '';
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

  async start(): Promise<string> {
    await mkdir(join(this.dir, 'store'), { recursive: true });
    await this.stopLeftover();
    await this.migrateGlobalAccount();
    await this.spawnServer();
    return this.url;
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
    const q = (s: string): string => JSON.stringify(s);
    const text = [
      `host: 127.0.0.1`,
      `port: ${this.port}`,
      `server_name: wbx_embedded`,
      `pid_file: ${q(this.pidFile)}`,
      `ports_file_dir: ${q(this.dir)}`,
      `jetstream { store_dir: ${q(join(this.dir, 'store'))} }`,
      this.extraConfig,
    ].join('\n');
    await writeFile(file, `${text}\n`);
    return file;
  }

  private async spawnServer(): Promise<void> {
    for (const f of await readdir(this.dir))
      if (f.endsWith('.ports')) await rm(join(this.dir, f), { force: true });
    const configFile = await this.writeConfig();
    const child = spawn(this.options.binary, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.stderrTail = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-4000);
    });
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'ENOENT'
            ? new EmbeddedNatsError(
                'NATS_BINARY_NOT_FOUND',
                `nats-server not found: ${this.options.binary}`,
                { cause: e },
              )
            : new EmbeddedNatsError('NATS_START_FAILED', e.message, { cause: e }),
        );
      });
      child.once('exit', (code) => {
        reject(
          new EmbeddedNatsError(
            'NATS_START_FAILED',
            `nats-server exited (${String(code)}): ${this.stderrTail.trim()}`,
          ),
        );
      });
    });
    failed.catch(() => undefined);
    await Promise.race([this.waitForPort(child), failed]);
    child.removeAllListeners('exit');
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.options.log.error(
        { code, signal, stderr: this.stderrTail.slice(-500) },
        'embedded nats-server died; restarting',
      );
      void this.restartLater();
    });
    this.options.log.info({ url: this.url, pid: child.pid }, 'embedded nats-server ready');
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

  private async waitForPort(child: ChildProcess): Promise<void> {
    const file = join(this.dir, `nats-server_${String(child.pid)}.ports`);
    for (let i = 0; i < 300; i++) {
      if (existsSync(file)) {
        const ports = JSON.parse(await readFile(file, 'utf8')) as { nats?: string[] };
        const url = ports.nats?.[0];
        if (url !== undefined) {
          this.port = Number(url.slice(url.lastIndexOf(':') + 1));
          return;
        }
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new EmbeddedNatsError(
      'NATS_START_FAILED',
      `nats-server did not report its port: ${this.stderrTail.trim()}`,
    );
  }

  /** Rewrites the configuration with new extra text (e.g. changed users) and has the server reload it. */
  async reload(extraConfig: string): Promise<void> {
    this.extraConfig = extraConfig;
    await this.writeConfig();
    const pid = this.child?.pid;
    if (pid !== undefined && this.child?.exitCode === null) process.kill(pid, 'SIGHUP');
    this.options.log.info('embedded nats-server configuration reloaded');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
