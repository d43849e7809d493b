import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { AUDIT_STREAM, AuditLog } from '@wbx/audit';
import type { ManifestBody } from '@wbx/registry';
import { createSealer } from '@wbx/seal';
import type { Logger } from 'pino';

import type { LoadedAgreement } from './agreement-policy.js';
import { AgreementsWatcher } from './agreements-watcher.js';
import { Aggregator } from './aggregator.js';
import { auditAnchorPath, fileAuditAnchor } from './audit-anchor.js';
import { ConfigError, type GatewayConfig } from './config.js';
import { loadIdentity } from './identity.js';
import { EmbeddedNats } from './embedded-nats.js';
import type { ExchangeContext } from './exchange/access.js';
import { Pseudonyms } from './exchange/pseudonyms.js';
import { READMISSION_BUCKET } from './exchange/readmission.js';
import { startExchangeServer, type StartedExchange } from './exchange/server.js';
import { startGrpcServer, stopGrpcServer, type StartedGrpc } from './grpc-server.js';
import { startHttpServer, type HttpEndpoints } from './http-server.js';
import { StreamsProbe } from './streams-probe.js';
import { SealPool } from './workers/seal-pool.js';
import { IngestPipeline } from './ingest-pipeline.js';
import { createLogger } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import { shareStream } from './nats-access.js';
import { ACCESS_CONFIG_FILE } from './nats-access-files.js';
import { INBOX_STREAM, ReceiveWorker } from './receive-worker.js';
import { ShareWorker } from './share-worker.js';
import { EVENTS_STREAM, ensureStream, eventsStreamConfig, STATE_BUCKET } from './streams.js';

export interface GatewayOptions {
  readonly log?: Logger;
  /** How long a stop waits for calls in flight before cutting them; default 10 s. */
  readonly drainMs?: number;
  /** The clock of ingest and Exchange (readmission deadlines); default: the system's. Tests move it. */
  readonly now?: () => Date;
}

interface GatewayParts {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly manifest: ManifestBody;
  readonly natsUrl: string;
  readonly nc: NatsConnection;
  readonly embedded: EmbeddedNats | undefined;
  readonly pipeline: IngestPipeline;
  readonly sealPool: SealPool | undefined;
  readonly grpc: StartedGrpc;
  readonly http: HttpEndpoints;
  readonly drainMs: number;
  readonly audit: AuditLog;
  readonly share: ShareWorker;
  readonly receive: ReceiveWorker;
  readonly watcher: AgreementsWatcher;
  readonly probe: StreamsProbe;
  readonly exchange: StartedExchange | undefined;
}

/**
 * A partner's gateway node: its (embedded or external) NATS with WBX_EVENTS, the Ingest pipeline, the
 * gRPC server (Ingest, health, reflection), sharing to recipients under the active agreements (audited),
 * receiving from the partners that share with it, and the HTTP endpoints for health and metrics.
 */
export class Gateway {
  private stopped = false;

  private constructor(private readonly parts: GatewayParts) {}

  get config(): GatewayConfig {
    return this.parts.config;
  }

  get log(): Logger {
    return this.parts.log;
  }

  get manifest(): ManifestBody {
    return this.parts.manifest;
  }

  get natsUrl(): string {
    return this.parts.natsUrl;
  }

  /** The connection to this partner's own NATS (for tests and tools). */
  get nats(): NatsConnection {
    return this.parts.nc;
  }

  /** The agreements this gateway holds active now. */
  get agreements(): readonly LoadedAgreement[] {
    return this.parts.watcher.agreements;
  }

  /** NATS access files (recipients' nkeys) this gateway keeps, if any. */
  get accessDir(): string | undefined {
    return this.parts.watcher.accessDir;
  }

  get grpcAddress(): string {
    return this.parts.grpc.address;
  }

  get httpAddress(): string {
    return this.parts.http.address;
  }

  /** The partner-facing Exchange server's address, if it runs. */
  get exchangeAddress(): string | undefined {
    return this.parts.exchange?.address;
  }

  static async start(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const cleanup: (() => Promise<unknown>)[] = [];
    try {
      return await Gateway.assemble(config, options, cleanup);
    } catch (e) {
      // Whatever was started before the failure is stopped, so that nothing is left running.
      for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
      throw e;
    }
  }

  private static async assemble(
    config: GatewayConfig,
    options: GatewayOptions,
    cleanup: (() => Promise<unknown>)[],
  ): Promise<Gateway> {
    const log = options.log ?? createLogger(config.log.level, config.partner);
    const identity = await loadIdentity(config, new Date(), log);
    const metrics = new GatewayMetrics();
    const guard = { limits: config.limits, metrics, log };
    let embedded: EmbeddedNats | undefined;
    let natsUrl = config.nats.url;
    let nkeyFile = config.nats.nkeyFile;
    const accessDir = natsUrl === undefined ? (config.access ?? join(config.data, 'nats-access')) : config.access;
    const watcher = new AgreementsWatcher(config, identity.manifest, log, accessDir);
    await watcher.load();
    if (natsUrl === undefined) {
      embedded = new EmbeddedNats({ dataDir: config.data, binary: config.nats.binary, log });
      nkeyFile = await watcher.writeAccess(new Date());
      const files = join(accessDir ?? '', ACCESS_CONFIG_FILE);
      embedded.extraConfig = await readFile(files, 'utf8');
      const started = embedded;
      cleanup.push(() => started.stop());
      natsUrl = await embedded.start();
      watcher.embedded = embedded;
    }
    let nc: NatsConnection;
    try {
      const seed = nkeyFile === undefined ? undefined : (await readFile(nkeyFile, 'utf8')).trim();
      nc = await connect({
        servers: natsUrl,
        name: `wbx-gateway-${config.partner}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        // No stack trace captured per request: it cost 6 % of the ingest path's CPU.
        noAsyncTraces: true,
        ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }),
      });
    } catch (e) {
      throw new ConfigError([{ path: 'nats.url', message: `cannot connect to ${natsUrl}: ${(e as Error).message}` }], {
        cause: e,
      });
    }
    const connection = nc;
    cleanup.push(() => connection.close());
    const streamConfig = eventsStreamConfig(config.partner, config.streams);
    const jsm = await jetstreamManager(nc);
    let streamsReady = false;
    try {
      await ensureStream(jsm, streamConfig);
      streamsReady = true;
    } catch (e) {
      log.error({ err: e }, `cannot create ${EVENTS_STREAM}`);
      throw e;
    }
    const sealer = createSealer({ issuer: config.partner, kid: identity.sealerKid, privateKey: identity.key });
    const { sealWorkers } = config.ingest;
    const sealPool = sealWorkers === 0 ? undefined : new SealPool({ issuer: config.partner, kid: identity.sealerKid, privateKey: identity.key, size: sealWorkers }, sealer); // prettier-ignore
    if (sealPool !== undefined) cleanup.push(() => sealPool.close());
    const pipeline = new IngestPipeline({
      partner: config.partner,
      js: jetstream(nc),
      sealer,
      sealPool,
      metrics,
      log,
      publishTimeoutMs: config.nats.publishTimeout,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    let connected = true;
    const grpc = await startGrpcServer(config.grpc, pipeline, log, guard);
    cleanup.push(() => stopGrpcServer(grpc.server, 0));
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
    const probe = new StreamsProbe({
      jsm,
      log,
      expected: () => [
        EVENTS_STREAM,
        AUDIT_STREAM,
        `KV_${STATE_BUCKET}`,
        ...watcher.policy.recipients(new Date()).map((r) => shareStream(r.id)),
        ...(config.receive.length === 0 ? [] : [INBOX_STREAM]),
        ...(config.exchange === undefined ? [] : [`KV_${READMISSION_BUCKET}`]),
      ],
    });
    const opened: { audit?: AuditLog } = {}; // /readyz may be asked before the audit log is open
    const http = await startHttpServer(config.http.listen, metrics, () => {
      const reasons = [];
      for (const stream of probe.missing) reasons.push(`stream ${stream} missing`);
      if (!connected) reasons.push('NATS disconnected');
      if (!streamsReady) reasons.push(`${EVENTS_STREAM} missing`);
      if (watcher.problem !== undefined) reasons.push(`agreements unreadable (${watcher.problem}): sharing paused`);
      const failure = opened.audit?.failure;
      if (failure !== undefined) reasons.push(`audit chain broken (${failure.code}): sharing stopped`);
      return { ready: reasons.length === 0, reasons };
    }, guard);
    cleanup.push(() => new Promise<void>((resolve) => http.server.close(() => resolve())));
    const js = jetstream(nc);
    const audit = await AuditLog.open({
      js,
      jsm,
      origin: config.partner,
      signer: { kid: identity.sealerKid, privateKey: identity.key },
      checkpointEvery: { entries: config.audit.checkpointEntries, ms: config.audit.checkpointInterval },
      replicas: config.streams.replicas,
      anchor: fileAuditAnchor(auditAnchorPath(config.data)),
      manifest: identity.manifest,
      onError: (e) => log.error({ err: e }, 'audit log error (checkpoint, anchor or broken chain)'),
    });
    opened.audit = audit;
    const state = await new Kvm(js).create(STATE_BUCKET);
    const aggregator = new Aggregator({ partner: config.partner, js, state, sealer, audit, log, graceMs: config.share.aggregateGrace, settleMs: config.share.aggregateSettle });
    const share = new ShareWorker({ partner: config.partner, js, jsm, policy: () => watcher.policy, audit, aggregator, log, flushEveryMs: config.share.flushEvery });
    cleanup.push(() => audit.close());
    await share.start();
    cleanup.push(() => share.stop());
    const receive = new ReceiveWorker({
      partner: config.partner, sources: config.receive, js, jsm, manifest: () => identity.manifest, log,
      agreements: () => (watcher.healthy ? watcher.agreements : undefined), metrics, replicas: config.streams.replicas,
      inbox: { ...config.inbox, duplicateWindow: config.streams.duplicateWindow }, quarantine: config.quarantine,
    });
    cleanup.push(() => receive.stop());
    await receive.start();
    watcher.start(() => share.syncRecipients());
    await probe.start();
    cleanup.push(() => probe.stop());
    let exchange: StartedExchange | undefined;
    if (config.exchange !== undefined) {
      const context: ExchangeContext = {
        partner: config.partner, manifest: () => identity.manifest, agreements: () => watcher.agreements,
        inactive: () => watcher.inactive, audit, log, now: options.now ?? (() => new Date()),
      };
      const started = await startExchangeServer(config.exchange, context, {
        js, jsm, pipeline,
        readmissionKv: await new Kvm(js).create(READMISSION_BUCKET, { replicas: config.streams.replicas, history: 5 }),
        pseudonyms: await Pseudonyms.open(join(config.data, 'exchange', 'subject-ref.secret')),
        manifestJson: identity.manifestJson,
      }, guard);
      exchange = started;
      cleanup.push(() => stopGrpcServer(started.server, 0));
    }
    const gateway = new Gateway({
      config, log, manifest: identity.manifest, natsUrl, nc, embedded, pipeline, sealPool, grpc, http,
      drainMs: options.drainMs ?? 10_000, audit, share, receive, watcher, probe, exchange,
    });
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
      ...(this.exchangeAddress === undefined ? {} : { exchange: this.exchangeAddress }),
    });
  }

  /** Drains: no new calls, in-flight submissions finish (acknowledged or failed), then everything stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { grpc, pipeline, sealPool, nc, http, embedded, log, watcher, share, receive, audit, exchange } =
      this.parts;
    grpc.health.setStatus('', 'NOT_SERVING');
    grpc.health.setStatus('wbx.v1.Ingest', 'NOT_SERVING');
    exchange?.health.setStatus('', 'NOT_SERVING');
    await Promise.all([
      stopGrpcServer(grpc.server, this.parts.drainMs),
      exchange === undefined ? undefined : stopGrpcServer(exchange.server, this.parts.drainMs),
    ]);
    await pipeline.drain();
    await sealPool?.close();
    await this.parts.probe.stop();
    await watcher.stop();
    await receive.stop();
    await share.stop();
    await audit.close().catch((e: unknown) => log.warn({ err: e }, 'final audit checkpoint failed'));
    await nc.drain().catch((e: unknown) => log.warn({ err: e }, 'NATS drain failed'));
    await new Promise<void>((resolve) => http.server.close(() => resolve()));
    await embedded?.stop();
    log.info('gateway stopped');
  }
}
