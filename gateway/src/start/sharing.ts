import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';

import { AuditLog } from '@wbx/audit';
import type { Sealer } from '@wbx/seal';
import type { Logger } from 'pino';

import type { AgreementsWatcher } from '../agreements-watcher.js';
import { Aggregator } from '../aggregator.js';
import { auditAnchorPath, fileAuditAnchor } from '../audit-anchor.js';
import type { GatewayConfig } from '../config.js';
import type { ManifestSource } from '../manifest-watcher.js';
import type { GatewayMetrics } from '../metrics.js';
import { InboxRetention } from '../inbox-retention.js';
import { ConsumerPendingMonitor } from '../consumer-pending.js';
import { Pseudonyms } from '../exchange/pseudonyms.js';
import { ReceiveWorker } from '../receive-worker.js';
import { ChangeSharer, NoticeAcks } from '../record-change-share.js';
import { RecordChanges } from '../record-changes.js';
import { ShareWorker } from '../share-worker.js';
import { ShareDerivePool } from '../workers/share-derive-pool.js';
import { AUDIT_STREAM, EVENTS_STREAM, SHARE_CONSUMER, STATE_BUCKET } from '../nats-layout.js';
import { ensureReplicas, openBucket } from '../streams.js';
import type { StartedNats } from './nats.js';

export interface SharingParts {
  readonly config: GatewayConfig;
  readonly nats: StartedNats;
  /** The manifest now and each newer one: the receive worker verifies against the current one. */
  readonly manifests: ManifestSource;
  readonly signer: { readonly kid: string; readonly key: KeyObject };
  readonly sealer: Sealer;
  readonly watcher: AgreementsWatcher;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
}

export interface StartedSharing extends AsyncDisposable {
  readonly audit: AuditLog;
  readonly share: ShareWorker;
  readonly receive: ReceiveWorker;
  /** The node's keyed subject references (`<data>/exchange/subject-ref.secret`), shared with Exchange. */
  readonly pseudonyms: Pseudonyms;
}

/**
 * Sharing and receiving: the audit log (its chain checked against the anchor), the share worker and the
 * aggregator under the watcher's agreements, the receive worker for the partners that share with this one,
 * and the watcher's reloading. Disposing stops them in the reverse order; the audit log writes a last
 * checkpoint.
 */
export async function startSharing(parts: SharingParts): Promise<StartedSharing> {
  const { config, nats, watcher, log } = parts;
  const { js, jsm } = nats;
  await using stack = new AsyncDisposableStack();
  // @wbx/audit updates the replicas of an existing audit stream but does not wait for them to settle.
  await ensureReplicas(jsm, AUDIT_STREAM, config.streams.replicas);
  const audit = await AuditLog.open({
    js,
    jsm,
    origin: config.partner,
    signer: { kid: parts.signer.kid, privateKey: parts.signer.key },
    checkpointEvery: { entries: config.audit.checkpointEntries, ms: config.audit.checkpointInterval },
    replicas: config.streams.replicas,
    anchor: fileAuditAnchor(auditAnchorPath(config.data)),
    manifest: parts.manifests.current.body,
    onError: (e) => log.error({ err: e }, 'audit log error (checkpoint, anchor or broken chain)'),
    onConflict: (c) =>
      log.warn(c, 'audit chain conflict: another writer appended first; rebuilt on the new head and retried'),
  });
  stack.defer(async () => {
    await audit.close().catch((e: unknown) => log.warn({ err: e }, 'final audit checkpoint failed'));
  });
  const state = await openBucket(js, jsm, STATE_BUCKET, { replicas: config.streams.replicas });
  const secretFile = join(config.data, 'exchange', 'subject-ref.secret');
  const pseudonyms = await Pseudonyms.open(secretFile);
  const aggregator = new Aggregator({
    partner: config.partner,
    js,
    state,
    sealer: parts.sealer,
    audit,
    log,
    graceMs: config.share.aggregateGrace,
    settleMs: config.share.aggregateSettle,
    // A period waits until no event that may be its own is still held (by a replica that died).
    source: { stream: EVENTS_STREAM, consumer: SHARE_CONSUMER },
    // The cell-key method's record keys: keyed by the node's secret ('#' keeps them apart from agreements).
    recordKey: (eventId) => parseInt(pseudonyms.keyed('#cell-key', eventId).slice(0, 8), 16),
  });
  const refs = { pseudonyms, signer: { kid: parts.signer.kid, privateKey: parts.signer.key } };
  const changes = new RecordChanges({ partner: config.partner, js, jsm, replicas: config.streams.replicas });
  // A backlog's presentations are derived on as many threads as ingest seals on (0: on the main thread).
  const deriveWorkers = config.ingest.sealWorkers;
  const derive =
    deriveWorkers > 0 && ShareDerivePool.available()
      ? new ShareDerivePool({ partner: config.partner, secretFile, refs, size: deriveWorkers })
      : undefined;
  if (derive !== undefined) stack.defer(() => derive.close());
  const share = new ShareWorker({
    partner: config.partner,
    refs,
    derive,
    changes: new ChangeSharer({ partner: config.partner, js, jsm, changes, aggregator, refs, log }),
    js,
    jsm,
    agreements: watcher,
    audit,
    aggregator,
    log,
    flushEveryMs: config.share.flushEvery,
    replicas: config.streams.replicas,
  });
  // Stopped too if its start fails half-way (it follows the agreements from the start on).
  stack.defer(() => share.stop());
  await share.start();
  const acks = new NoticeAcks({ partner: config.partner, jsm, changes, audit, log });
  acks.start();
  stack.defer(() => acks.stop());
  const receive = new ReceiveWorker({
    partner: config.partner,
    sources: config.receive,
    js,
    jsm,
    manifest: () => parts.manifests.current.body,
    log,
    agreements: watcher,
    metrics: parts.metrics,
    replicas: config.streams.replicas,
    inbox: { ...config.inbox, duplicateWindow: config.streams.duplicateWindow },
    quarantine: config.quarantine,
    unreachableAfter: config.nats.originUnreachableAfter,
  });
  stack.defer(() => receive.stop());
  await receive.start();
  const retention = new InboxRetention({
    partner: config.partner,
    jsm,
    agreements: watcher,
    log,
    metrics: parts.metrics,
    everyMs: config.inbox.retentionSweep,
    deleteUncovered: config.inbox.deleteUncovered,
  });
  retention.start();
  stack.defer(() => retention.stop());
  const pending = new ConsumerPendingMonitor({ jsm, gauge: parts.metrics.sharePending, log });
  pending.start();
  stack.defer(() => pending.stop());
  watcher.start();
  stack.defer(() => watcher.stop());
  const owned = stack.move();
  return { audit, share, receive, pseudonyms, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}
