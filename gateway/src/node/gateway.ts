import { readFile } from 'node:fs/promises';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  importPrivateJwk,
  RegistryError,
  resolveSigningKey,
  verifyRootManifest,
  type ManifestBody,
  type SignedManifest,
} from '@wbx/registry';
import { createSealer } from '@wbx/seal';
import type { Logger } from 'pino';

import { ConfigError, type GatewayConfig } from './config.js';
import { EmbeddedNats } from './embedded-nats.js';
import { startGrpcServer, stopGrpcServer, type StartedGrpc } from './grpc-server.js';
import { startHttpServer, type HttpEndpoints } from './http-server.js';
import { IngestPipeline } from './ingest-pipeline.js';
import { createLogger } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import { EVENTS_STREAM, ensureStream, eventsStreamConfig } from './streams.js';

export interface GatewayOptions {
  readonly log?: Logger;
  /** How long a stop waits for calls in flight before cutting them; default 10 s. */
  readonly drainMs?: number;
}

async function readJson(path: string, what: string, setting: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(
      [{ path: setting, message: `cannot read the ${what} ${path}: ${(e as Error).message}` }],
      {
        cause: e,
      },
    );
  }
}

/** Loads the partner's key and the trusted manifest and checks that they belong together, now. */
async function loadIdentity(config: GatewayConfig, now: Date): Promise<{ manifest: ManifestBody; sealerKid: string; key: ReturnType<typeof importPrivateJwk>['key'] }> {
  let manifest: ManifestBody;
  let imported: ReturnType<typeof importPrivateJwk>;
  try {
    manifest = verifyRootManifest((await readJson(config.manifest, 'manifest', 'manifest')) as SignedManifest);
    imported = importPrivateJwk(await readJson(config.key, 'key', 'key'));
  } catch (e) {
    if (e instanceof RegistryError) throw new ConfigError([{ path: 'manifest', message: `${e.code}: ${e.message}` }], { cause: e });
    throw e;
  }
  if (imported.memberId !== config.partner) {
    throw new ConfigError([{ path: 'key', message: `the key ${imported.kid} is not ${config.partner}'s` }]);
  }
  try {
    resolveSigningKey(manifest, config.partner, imported.kid, now);
  } catch (e) {
    if (e instanceof RegistryError) {
      throw new ConfigError([{ path: 'key', message: `${imported.kid} cannot sign now: ${e.code}` }], { cause: e });
    }
    throw e;
  }
  return { manifest, sealerKid: imported.kid, key: imported.key };
} // prettier-ignore

/**
 * A partner's gateway node: its (embedded or external) NATS with WBX_EVENTS, the Ingest pipeline, the
 * gRPC server (Ingest, health, reflection) and the HTTP endpoints for health and metrics.
 */
export class Gateway {
  private stopped = false;

  private constructor(
    readonly config: GatewayConfig,
    readonly log: Logger,
    readonly manifest: ManifestBody,
    readonly natsUrl: string,
    private readonly nc: NatsConnection,
    private readonly embedded: EmbeddedNats | undefined,
    private readonly pipeline: IngestPipeline,
    private readonly grpc: StartedGrpc,
    private readonly http: HttpEndpoints,
    private readonly drainMs: number,
  ) {}

  get grpcAddress(): string {
    return this.grpc.address;
  }

  get httpAddress(): string {
    return this.http.address;
  }

  static async start(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const log = options.log ?? createLogger(config.log.level, config.partner);
    const identity = await loadIdentity(config, new Date());
    const metrics = new GatewayMetrics();
    let embedded: EmbeddedNats | undefined;
    let natsUrl = config.nats.url;
    if (natsUrl === undefined) {
      embedded = new EmbeddedNats({ dataDir: config.data, binary: config.nats.binary, log });
      natsUrl = await embedded.start();
    }
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: natsUrl,
        name: `wbx-gateway-${config.partner}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
      });
    } catch (e) {
      await embedded?.stop();
      throw e;
    }
    const streamConfig = eventsStreamConfig(config.partner, config.streams);
    const jsm = await jetstreamManager(nc);
    let streamsReady = false;
    try {
      await ensureStream(jsm, streamConfig);
      streamsReady = true;
    } catch (e) {
      await nc.close();
      await embedded?.stop();
      throw e;
    }
    const sealer = createSealer({ issuer: config.partner, kid: identity.sealerKid, privateKey: identity.key });
    const pipeline = new IngestPipeline({
      partner: config.partner,
      js: jetstream(nc),
      sealer,
      metrics,
      log,
      publishTimeoutMs: config.nats.publishTimeout,
    });
    let connected = true;
    const grpc = await startGrpcServer(config.grpc, pipeline, log);
    const setHealth = (): void => {
      const state = connected && streamsReady ? 'SERVING' : 'NOT_SERVING';
      grpc.health.setStatus('', state);
      grpc.health.setStatus('wbx.v1.Ingest', state);
    };
    setHealth();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          connected = false;
          log.warn({ server: s.server }, 'NATS disconnected');
        } else if (s.type === 'reconnect') {
          connected = true;
          metrics.natsReconnects.inc();
          log.info({ server: s.server }, 'NATS reconnected');
          // A server that lost its store comes back without the stream: make sure it is there.
          streamsReady = await ensureStream(jsm, streamConfig).then(
            () => true,
            (e: unknown) => {
              log.error({ err: e }, `cannot ensure ${EVENTS_STREAM} after reconnecting`);
              return false;
            },
          );
        }
        setHealth();
      }
    })();
    const http = await startHttpServer(config.http.listen, metrics, () => {
      const reasons = [];
      if (!connected) reasons.push('NATS disconnected');
      if (!streamsReady) reasons.push(`${EVENTS_STREAM} missing`);
      return { ready: reasons.length === 0, reasons };
    });
    const gateway = new Gateway(config, log, identity.manifest, natsUrl, nc, embedded, pipeline, grpc, http, options.drainMs ?? 10_000);
    log.info({ grpc: grpc.address, http: http.address, nats: natsUrl }, 'gateway ready');
    return gateway;
  } // prettier-ignore

  /** The line the CLI prints on stdout once the gateway is ready. */
  readyLine(): string {
    return JSON.stringify({
      ready: true,
      partner: this.config.partner,
      grpc: this.grpcAddress,
      http: this.httpAddress,
      nats: this.natsUrl,
    });
  }

  /** Drains: no new calls, in-flight submissions finish (acknowledged or failed), then everything stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.grpc.health.setStatus('', 'NOT_SERVING');
    this.grpc.health.setStatus('wbx.v1.Ingest', 'NOT_SERVING');
    await stopGrpcServer(this.grpc.server, this.drainMs);
    await this.pipeline.drain();
    await this.nc.drain().catch((e: unknown) => this.log.warn({ err: e }, 'NATS drain failed'));
    await new Promise<void>((resolve) => this.http.server.close(() => resolve()));
    await this.embedded?.stop();
    this.log.info('gateway stopped');
  }
}
