import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { AuthorizationError, connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

import { ConfigError, type GatewayConfig } from '../config.js';
import { EmbeddedNats } from '../embedded-nats.js';
import type { GatewayMetrics } from '../metrics.js';
import { EVENTS_STREAM } from '../nats-layout.js';
import { ensureStream, eventsStreamConfig } from '../streams.js';
import { retryTransient } from './transient.js';

export interface NatsAccess {
  /** The gateway's nkey seed file, if its NATS wants one. */
  readonly nkeyFile: string | undefined;
  /** For the embedded server: the accounts (and TLS) configuration to start it with. */
  readonly accessConfig: string | undefined;
}

/** The partner's NATS as the gateway uses it, and whether it can be used now. */
export interface StartedNats extends AsyncDisposable {
  readonly url: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The gateway's own nats-server, when the configuration names no NATS. */
  readonly embedded: EmbeddedNats | undefined;
  /** Connected, and WBX_EVENTS there (it is ensured again after every reconnect). */
  readonly state: { readonly connected: boolean; readonly eventsStream: boolean };
  /** Called after every change of {@link state}. */
  onChange(listener: () => void): void;
}

/**
 * Starts the embedded nats-server when no NATS is configured, connects (reconnecting for ever), and
 * ensures WBX_EVENTS. A configured NATS that cannot be reached yet is waited for: the first connection is
 * retried with back-off (250 ms, doubling, at most 5 s) and a warning now and then, until it comes; so is
 * WBX_EVENTS while the requests for it fail transiently (`waiting` gets the reason for /readyz).
 * Disposing drains the connection and stops the embedded server.
 */
export async function startNats(
  config: GatewayConfig,
  access: NatsAccess,
  log: Logger,
  metrics: GatewayMetrics,
  waiting: (reason: string | undefined) => void = () => undefined,
): Promise<StartedNats> {
  await using stack = new AsyncDisposableStack();
  let url = config.nats.url;
  let embedded: EmbeddedNats | undefined;
  if (url === undefined) {
    const server = new EmbeddedNats({
      dataDir: config.data,
      binary: config.nats.binary,
      log,
      extraConfig: access.accessConfig,
      ...(config.nats.port === undefined ? {} : { port: config.nats.port }),
    });
    stack.defer(() => server.stop());
    url = await server.start();
    embedded = server;
  }
  const nc = await connectGateway(config, url, access.nkeyFile, log);
  stack.defer(() => nc.drain().catch((e: unknown) => log.warn({ err: e }, 'NATS drain failed')));
  const streamConfig = eventsStreamConfig(config.partner, config.streams);
  let jsm: JetStreamManager;
  try {
    // JetStream may be electing a leader, another replica creating the stream: waited for.
    jsm = await retryTransient('reach JetStream', () => jetstreamManager(nc), { log, report: waiting });
    await retryTransient(`ensure ${EVENTS_STREAM}`, () => ensureStream(jsm, streamConfig), {
      log,
      report: waiting,
    });
  } catch (e) {
    log.error({ err: e }, `cannot create ${EVENTS_STREAM}`);
    throw e;
  }
  const state = { connected: true, eventsStream: true };
  const listeners: (() => void)[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        state.connected = false;
        log.warn({ server: s.server }, 'NATS disconnected');
      } else if (s.type === 'reconnect') {
        state.connected = true;
        metrics.natsReconnects.inc();
        log.info({ server: s.server }, 'NATS reconnected');
        // A server that lost its store comes back without the stream: make sure it is there.
        state.eventsStream = await ensureStream(jsm, streamConfig).then(
          () => true,
          (e: unknown) => {
            log.error({ err: e }, `cannot ensure ${EVENTS_STREAM} after reconnecting`);
            return false;
          },
        );
      }
      for (const listener of listeners) listener();
    }
  })();
  const owned = stack.move();
  return {
    url,
    nc,
    js: jetstream(nc),
    jsm,
    embedded,
    state,
    onChange: (listener) => listeners.push(listener),
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/** The first connection is retried after 250 ms, then twice as long each time, at most this long. */
const CONNECT_RETRY_MAX_MS = 5_000;
/** While NATS cannot be reached at start, a warning is logged at most this often. */
const CONNECT_LOG_EVERY_MS = 5_000;

/**
 * Connects to the partner's NATS, waiting for it while it cannot be reached. An nkey file that cannot be
 * read or credentials the server refuses are configuration errors: they do not mend by waiting.
 */
async function connectGateway(
  config: GatewayConfig,
  url: string,
  nkeyFile: string | undefined,
  log: Logger,
): Promise<NatsConnection> {
  let seed: string | undefined;
  try {
    seed = nkeyFile === undefined ? undefined : (await readFile(nkeyFile, 'utf8')).trim();
  } catch (e) {
    throw new ConfigError([{ path: 'nats.nkeyFile', message: `cannot read ${String(nkeyFile)}` }], {
      cause: e,
    });
  }
  let logged = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await connect({
        servers: url.split(','),
        name: `wbx-gateway-${config.partner}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        // No stack trace captured per request: it cost 6 % of the ingest path's CPU.
        noAsyncTraces: true,
        ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
      });
      if (attempt > 1) log.info({ url, attempts: attempt }, 'NATS reachable; connected');
      return nc;
    } catch (e) {
      if (e instanceof AuthorizationError) {
        throw new ConfigError(
          [{ path: 'nats.url', message: `${url} refused the gateway's credentials: ${e.message}` }],
          { cause: e },
        );
      }
      const retryMs = Math.min(CONNECT_RETRY_MAX_MS, 250 * 2 ** Math.min(attempt - 1, 5));
      if (Date.now() - logged >= CONNECT_LOG_EVERY_MS) {
        logged = Date.now();
        const message = (e as Error).message;
        log.warn({ url, attempt, retryMs, err: message }, 'NATS unreachable; not ready, retrying');
      }
      await sleep(retryMs);
    }
  }
}
