import { createServer, isIPv6, type Server as NetServer, type Socket } from 'node:net';

import type { Logger } from 'pino';

import { ConfigError, type GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';

export type ConnectionLimits = GatewayConfig['limits'];

/** The gateway's listeners, as they are named in metrics and logs. */
export type ListenerName = 'ingest' | 'exchange' | 'http';

/** Which cap closed a connection on arrival. */
export type RefusalReason = 'per_address' | 'total';

/** What every guarded listener needs: the limits, where to count refusals, where to log. */
export interface GuardContext {
  readonly limits: ConnectionLimits;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
}

/** At most one log line per listener and this interval about refused connections (counts only). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The key a connection counts under: the IPv4 address (an IPv4-mapped IPv6 address as IPv4), or the /64
 * prefix of an IPv6 address (one subscriber usually holds a whole /64).
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** Counts refusals and logs them at most once per interval, as numbers: never an address. */
class RefusalLog {
  private pending: Record<RefusalReason, number> = { per_address: 0, total: 0 };
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly listener: ListenerName,
    private readonly ctx: GuardContext,
    private readonly open: () => number,
  ) {}

  refused(reason: RefusalReason): void {
    this.ctx.metrics.connectionsRefused.inc({ listener: this.listener, reason });
    this.pending[reason] += 1;
    if (this.timer !== undefined) return;
    const wait = this.last + REFUSAL_LOG_INTERVAL_MS - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait).unref();
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.per_address === 0 && this.pending.total === 0) return;
    const { perAddress, total } = this.ctx.limits;
    this.ctx.log.warn(
      { listener: this.listener, refused: this.pending, open: this.open(), perAddress, total },
      'connections refused: a connection cap is reached',
    );
    this.pending = { per_address: 0, total: 0 };
    this.last = Date.now();
  }
}

export interface GuardedListenerOptions {
  /** `host:port` to listen on (port 0: any free port). */
  readonly listen: string;
  /** The setting `listen` comes from, for a ConfigError (e.g. `exchange.listen`). */
  readonly setting: string;
  readonly listener: ListenerName;
  readonly ctx: GuardContext;
  /**
   * The longest any connection may live, whatever it does (a backstop behind the protocol's own
   * timeouts, e.g. for a TLS handshake trickled a byte at a time); then its socket is destroyed.
   */
  readonly lifetimeMs: number;
  /** Takes an admitted connection (a raw TCP socket) over: TLS, HTTP/2, HTTP. */
  readonly accept: (socket: Socket) => void;
}

/**
 * A TCP listener in front of a server (gRPC through grpc-js's connection injector, or HTTP): it counts
 * the connections it holds per client address and in total, closes one over a cap at once (before any
 * TLS handshake or byte is read: counted in `wbx_connections_refused_total`, logged rate-limited without
 * the address), and destroys any connection at the end of its lifetime.
 */
export class GuardedListener {
  private readonly sockets = new Set<Socket>();
  private readonly perKey = new Map<string, number>();
  private readonly refusals: RefusalLog;
  private acceptErrors = 0;

  private constructor(
    private readonly server: NetServer,
    private readonly options: GuardedListenerOptions,
    /** The address it listens on, `host:port` with the actual port. */
    readonly address: string,
  ) {
    this.refusals = new RefusalLog(options.listener, options.ctx, () => this.sockets.size);
  }

  static async listen(options: GuardedListenerOptions): Promise<GuardedListener> {
    const { listen, setting } = options;
    const cut = listen.lastIndexOf(':');
    const host = listen.slice(0, cut).replace(/^\[|\]$/g, '');
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error): void => {
        reject(
          new ConfigError([{ path: setting, message: `cannot listen on ${listen}: ${e.message}` }], {
            cause: e,
          }),
        );
      };
      server.once('error', failed);
      server.listen(Number(listen.slice(cut + 1)), host, () => {
        server.off('error', failed);
        resolve();
      });
    });
    const port = (server.address() as { port: number }).port;
    const guarded = new GuardedListener(server, options, `${listen.slice(0, cut)}:${port}`);
    server.on('connection', (socket) => guarded.admit(socket));
    // Accept failures (EMFILE, ENFILE…) do not stop the listener; they are logged, rate-limited.
    server.on('error', (e) => guarded.acceptFailed(e));
    return guarded;
  }

  /** Connections held now. */
  get open(): number {
    return this.sockets.size;
  }

  private admit(socket: Socket): void {
    // Errors on the raw socket end in 'close'; whoever takes it over adds its own handlers.
    socket.on('error', () => undefined);
    const { limits, metrics } = this.options.ctx;
    const remote = socket.remoteAddress;
    if (remote === undefined) {
      socket.destroy();
      return;
    }
    const key = addressKey(remote);
    const held = this.perKey.get(key) ?? 0;
    const reason: RefusalReason | undefined =
      this.sockets.size >= limits.total ? 'total' : held >= limits.perAddress ? 'per_address' : undefined;
    if (reason !== undefined) {
      socket.destroy();
      this.refusals.refused(reason);
      return;
    }
    this.sockets.add(socket);
    this.perKey.set(key, held + 1);
    metrics.connectionsOpen.inc({ listener: this.options.listener });
    const lifetime = setTimeout(() => socket.destroy(), this.options.lifetimeMs).unref();
    socket.once('close', () => {
      clearTimeout(lifetime);
      this.sockets.delete(socket);
      const left = (this.perKey.get(key) ?? 1) - 1;
      if (left === 0) this.perKey.delete(key);
      else this.perKey.set(key, left);
      metrics.connectionsOpen.dec({ listener: this.options.listener });
    });
    this.options.accept(socket);
  }

  private acceptFailed(e: Error): void {
    this.acceptErrors += 1;
    if (this.acceptErrors === 1 || this.acceptErrors % 1_000 === 0) {
      this.options.ctx.log.error(
        { err: e, listener: this.options.listener, count: this.acceptErrors },
        'cannot accept a connection',
      );
    }
  }

  /** Stops accepting connections; those held stay until `destroyAll` or their own end. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
    this.refusals.flush();
  }

  /** Resolves once every connection held now has closed by itself. */
  async closed(): Promise<void> {
    await Promise.all([...this.sockets].map((s) => new Promise((resolve) => s.once('close', resolve))));
  }

  /** Destroys every connection still held (after a drain). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Stops accepting and destroys every connection. */
  close(): void {
    this.stopAccepting();
    this.destroyAll();
  }
}
