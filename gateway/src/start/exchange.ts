import { join } from 'node:path';

import type { AuditLog } from '@wbx/audit';
import type { Logger } from 'pino';

import type { AgreementsWatcher } from '../agreements-watcher.js';
import type { GatewayConfig } from '../config.js';
import type { GuardContext } from '../connection-guard.js';
import type { ManifestSource } from '../manifest-watcher.js';
import { Pseudonyms } from '../exchange/pseudonyms.js';
import { RecordChanges } from '../record-changes.js';
import { MATCH_BUCKET, READMISSION_BUCKET } from '../nats-layout.js';
import { startExchangeServer, type StartedExchange } from '../exchange/server.js';
import { stopGrpcServer } from '../grpc-server.js';
import type { IngestPipeline } from '../ingest-pipeline.js';
import { openBucket } from '../streams.js';
import type { StartedNats } from './nats.js';

export interface ExchangeParts {
  readonly config: NonNullable<GatewayConfig['exchange']>;
  readonly partner: string;
  readonly dataDir: string;
  readonly replicas: number;
  readonly nats: StartedNats;
  /** The manifest now (callers' pinned certificates, keys, GetManifest) and each newer one. */
  readonly manifests: ManifestSource;
  readonly watcher: AgreementsWatcher;
  readonly audit: AuditLog;
  /** The node's keyed subject references, as sharing keys them (default: opened from `dataDir`). */
  readonly pseudonyms?: Pseudonyms;
  readonly pipeline: IngestPipeline;
  readonly log: Logger;
  readonly guard: GuardContext;
  readonly drainMs: number;
  readonly now: () => Date;
}

/**
 * The partner-facing Exchange (Query, Match, readmission) and Federation services over mutual TLS.
 * Disposing stops new calls and lets those in flight finish within `drainMs`.
 */
export interface RunningExchange extends StartedExchange, AsyncDisposable {
  /** Takes no new calls and lets those in flight finish within `drainMs` (once; disposing does it too). */
  stopCalls(): Promise<void>;
}

export async function startExchange(parts: ExchangeParts): Promise<RunningExchange> {
  const { nats, watcher } = parts;
  const started = await startExchangeServer(
    parts.config,
    {
      partner: parts.partner,
      manifest: () => parts.manifests.current.body,
      agreements: () => watcher.current.agreements,
      inactive: () => watcher.current.inactive,
      audit: parts.audit,
      log: parts.log,
      now: parts.now,
    },
    {
      js: nats.js,
      jsm: nats.jsm,
      pipeline: parts.pipeline,
      readmissionKv: await openBucket(nats.js, nats.jsm, READMISSION_BUCKET, {
        replicas: parts.replicas,
        history: 5,
      }),
      matchKv: await openBucket(nats.js, nats.jsm, MATCH_BUCKET, { replicas: parts.replicas, history: 1 }),
      pseudonyms:
        parts.pseudonyms ?? (await Pseudonyms.open(join(parts.dataDir, 'exchange', 'subject-ref.secret'))),
      manifestJson: () => parts.manifests.current.json,
      changes: await RecordChanges.open({
        partner: parts.partner,
        js: nats.js,
        jsm: nats.jsm,
        replicas: parts.replicas,
      }),
    },
    parts.guard,
  );
  let stopping: Promise<void> | undefined;
  const stopCalls = (): Promise<void> => {
    started.health.setStatus('', 'NOT_SERVING');
    stopping ??= stopGrpcServer(started.server, parts.drainMs);
    return stopping;
  };
  return { ...started, stopCalls, [Symbol.asyncDispose]: stopCalls };
}
