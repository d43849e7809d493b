import type { NatsConnection } from '@nats-io/transport-node';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import type { LoadedAgreement } from './agreement-set.js';
import { AgreementsWatcher } from './agreements-watcher.js';
import type { GatewayConfig } from './config.js';
import { startHttpServer, type HttpEndpoints } from './http-server.js';
import { loadIdentity } from './identity.js';
import { createLogger } from './logger.js';
import { ManifestWatcher, type ManifestSource } from './manifest-watcher.js';
import { GatewayMetrics } from './metrics.js';
import { natsAccessDir, NatsAccessWriter } from './nats-access-files.js';
import {
  AUDIT_STREAM,
  bucketStream,
  EVENTS_STREAM,
  INBOX_STREAM,
  MATCH_BUCKET,
  READMISSION_BUCKET,
  shareStream,
  STATE_BUCKET,
} from './nats-layout.js';
import { startExchange, type RunningExchange } from './start/exchange.js';
import { startIngest, type StartedIngest } from './start/ingest.js';
import { startNats, type StartedNats } from './start/nats.js';
import { startSharing, type StartedSharing } from './start/sharing.js';
import { retryTransient } from './start/transient.js';
import { StreamsProbe } from './streams-probe.js';
import { recordExpiries, recordSigningKeyExpiries } from './expiry-metrics.js';

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
  readonly manifests: ManifestSource;
  readonly nats: StartedNats;
  readonly ingest: StartedIngest;
  readonly http: HttpEndpoints;
  readonly sharing: StartedSharing;
  readonly watcher: AgreementsWatcher;
  readonly exchange: RunningExchange | undefined;
  /** Everything above that runs, stopped in the reverse order of starting. */
  readonly running: AsyncDisposableStack;
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

  /** The manifest this gateway runs with now (a newer trusted version is taken up while it runs). */
  get manifest(): ManifestBody {
    return this.parts.manifests.current.body;
  }

  /** The manifest now, and each newer version as it is accepted. */
  get manifests(): ManifestSource {
    return this.parts.manifests;
  }

  get natsUrl(): string {
    return this.parts.nats.url;
  }

  /** The connection to this partner's own NATS (for tests and tools). */
  get nats(): NatsConnection {
    return this.parts.nats.nc;
  }

  /** The agreements this gateway holds active now. */
  get agreements(): readonly LoadedAgreement[] {
    return this.parts.watcher.current.agreements;
  }

  /** NATS access files (recipients' nkeys) this gateway keeps, if any. */
  get accessDir(): string | undefined {
    return natsAccessDir(this.config);
  }

  get grpcAddress(): string {
    return this.parts.ingest.grpc.address;
  }

  get httpAddress(): string {
    return this.parts.http.address;
  }

  /** The partner-facing Exchange server's address, if it runs. */
  get exchangeAddress(): string | undefined {
    return this.parts.exchange?.address;
  }

  /**
   * Starts a partner's gateway from its configuration: the HTTP endpoints (not ready until the rest
   * runs), NATS (embedded or the partner's, waited for while it cannot be reached), Ingest, sharing and
   * receiving, and Exchange when configured. Whatever was started before a failure is stopped again, so
   * nothing is left running.
   */
  static async start(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const log = options.log ?? createLogger(config.log.level, config.partner);
    const identity = await loadIdentity(config, new Date(), log);
    const signer = { kid: identity.sealerKid, key: identity.key };
    const metrics = new GatewayMetrics();
    await recordExpiries(config, identity.manifest, metrics, log);
    const guard = { limits: config.limits, metrics, log };
    const drainMs = options.drainMs ?? 10_000;
    await using stack = new AsyncDisposableStack();
    const embedded = config.nats.url === undefined;
    const manifests = new ManifestWatcher(
      config,
      { body: identity.manifest, json: identity.manifestJson },
      identity.sealerKid,
      log,
    );
    const watcher = new AgreementsWatcher(config, manifests, log);
    const { agreements } = await watcher.load();
    const accessDir = natsAccessDir(config);
    const others = identity.manifest.members.map((m) => m.id).filter((id) => id !== config.partner);
    const access = accessDir === undefined ? undefined : new NatsAccessWriter(accessDir, others);
    // The embedded server starts with the recipients' users; a partner's own NATS gets its files
    // rewritten once agreements name a recipient, and at every change.
    const written = embedded || agreements.length > 0 ? await access?.write(watcher.current) : undefined;
    // The HTTP endpoints answer first: /readyz says what is not there yet (NATS may take a while to come).
    const opened: { nats?: StartedNats; probe?: StreamsProbe; sharing?: StartedSharing; waiting?: string } =
      {};
    // A start step that waits for NATS (a timeout, a leader election, another replica creating a stream).
    const waiting = { log, report: (reason: string | undefined) => (opened.waiting = reason) };
    const http = await startHttpServer(
      config.http.listen,
      metrics,
      () => {
        const { nats, probe } = opened;
        const reasons = (probe?.missing ?? []).map((stream) => `stream ${stream} missing`);
        if (opened.waiting !== undefined) reasons.push(opened.waiting);
        else if (nats === undefined) reasons.push('NATS unreachable');
        else if (!nats.state.connected) reasons.push('NATS disconnected');
        if (nats?.state.eventsStream === false) reasons.push(`${EVENTS_STREAM} missing`);
        const { problem } = watcher.current;
        if (problem !== undefined) reasons.push(`agreements unreadable (${problem}): sharing paused`);
        const failure = opened.sharing?.audit.failure;
        if (failure !== undefined) reasons.push(`audit chain broken (${failure.code}): sharing stopped`);
        if (opened.sharing === undefined && reasons.length === 0) reasons.push('starting');
        return { ready: reasons.length === 0, reasons };
      },
      guard,
    );
    stack.defer(() => new Promise<void>((resolve) => http.server.close(() => resolve())));
    const nats = stack.use(
      await startNats(
        config,
        {
          nkeyFile: embedded ? written?.files.gatewayNkeyFile : config.nats.nkeyFile,
          accessConfig: embedded ? written?.text : undefined,
        },
        log,
        metrics,
        waiting.report,
      ),
    );
    opened.nats = nats;
    if (access !== undefined) {
      stack.use(access.follow(watcher, nats.embedded, { manifests, partner: config.partner, log }));
    }
    // The steps that create streams, buckets and consumers are retried while NATS fails transiently (each
    // undoes its part before it rejects); a configuration error still fails the start.
    const ingest = stack.use(
      await retryTransient(
        'start ingest',
        () => startIngest({ config, nats, signer, log, metrics, guard, drainMs, now: options.now }),
        waiting,
      ),
    );
    const probe = new StreamsProbe({
      jsm: nats.jsm,
      log,
      expected: () => [
        EVENTS_STREAM,
        AUDIT_STREAM,
        bucketStream(STATE_BUCKET),
        ...watcher.current.policy.recipients(new Date()).map((r) => shareStream(r.recipient)),
        ...(config.receive.length === 0 ? [] : [INBOX_STREAM]),
        ...(config.exchange === undefined
          ? []
          : [bucketStream(READMISSION_BUCKET), bucketStream(MATCH_BUCKET)]),
      ],
    });
    opened.probe = probe;
    const sharing = stack.use(
      await retryTransient(
        'start sharing',
        () =>
          startSharing({
            config,
            nats,
            manifests,
            signer,
            sealer: ingest.sealer,
            watcher,
            log,
            metrics,
          }),
        waiting,
      ),
    );
    opened.sharing = sharing;
    const exchangeConfig = config.exchange;
    const exchange =
      exchangeConfig === undefined
        ? undefined
        : stack.use(
            await retryTransient(
              'start exchange',
              () =>
                startExchange({
                  config: exchangeConfig,
                  partner: config.partner,
                  dataDir: config.data,
                  replicas: config.streams.replicas,
                  nats,
                  manifests,
                  watcher,
                  audit: sharing.audit,
                  pseudonyms: sharing.pseudonyms,
                  pipeline: ingest.pipeline,
                  log,
                  guard,
                  drainMs,
                  now: options.now ?? (() => new Date()),
                }),
              waiting,
            ),
          );
    // Every stream and bucket exists now (Exchange created its own): from here a missing one is a loss.
    await probe.start();
    stack.defer(() => probe.stop());
    // From here a newer manifest is taken up while running (everything above reads `manifests`).
    metrics.manifestVersion.set(manifests.current.body.version);
    stack.use(
      manifests.subscribe(({ body }) => {
        recordSigningKeyExpiries(config.partner, body, metrics);
        metrics.manifestVersion.set(body.version);
      }),
    );
    manifests.start();
    stack.defer(() => manifests.stop());
    const gateway = new Gateway({
      config,
      log,
      manifests,
      nats,
      ingest,
      http,
      sharing,
      watcher,
      exchange,
      running: stack.move(),
    });
    log.info({ grpc: ingest.grpc.address, http: http.address, nats: nats.url }, 'gateway ready');
    return gateway;
  }

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

  /**
   * Drains: Exchange and Ingest take no new calls and finish those in flight (within `drainMs`); then,
   * in the reverse order of starting, sharing and receiving stop, the audit log writes a last checkpoint,
   * the NATS connection drains and the embedded nats-server stops.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { ingest, exchange, running, log } = this.parts;
    // First no new calls anywhere, and the calls in flight finish; then everything stops.
    await Promise.all([ingest.stopCalls(), exchange?.stopCalls()]);
    await running.disposeAsync();
    log.info('gateway stopped');
  }
}
