// The node's public API: what `wbx gateway`, the demo, tests and benchmarks use. Everything else in this
// package is internal to the node.

// Running a gateway.
export { Gateway, type GatewayOptions } from './gateway.js';
export { ConfigError, isLoopback, loadGatewayConfig, type GatewayConfig } from './config.js';
export { createLogger } from './logger.js';

// The NATS layout and the recipients' access (DESIGN.md, NATS layout; docs/access-model.md).
export {
  AUDIT_STREAM,
  auditSubject,
  bucketStream,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  eventSubject,
  INBOX_SEEN_BUCKET,
  INBOX_STREAM,
  INBOX_SUBJECT_PREFIX,
  inboxMsgId,
  inboxSubject,
  MATCH_BUCKET,
  ORIGIN_ACCOUNT,
  QUARANTINE_STREAM,
  QUARANTINE_SUBJECT_PREFIX,
  quarantineSubject,
  READMISSION_BUCKET,
  RECIPIENT_API_PREFIX,
  recipientAccount,
  recipientInboxPrefix,
  SHARE_CONSUMER,
  shareConsumer,
  shareStream,
  shareStreamRecipient,
  shareSubject,
  shareSubjectPrefix,
  STATE_BUCKET,
  subjectsUnder,
} from './nats-layout.js';
export { consumerSubjects, RECIPIENT_LIMITS, recipientPermissions } from './nats-access.js';
export { ACCESS_CONFIG_FILE, GATEWAY_NKEY_FILE, writeAccessFiles } from './nats-access-files.js';
export { alive, EmbeddedNatsError } from './embedded-nats.js';

// Agreements as the node loads them (wbx nats-config uses the same; the policy is @wbx/agreements').
export { loadAgreements, type InactiveAgreement, type LoadedAgreement } from './agreement-set.js';
export {
  agreementsSnapshot,
  fixedAgreements,
  type AgreementsSnapshot,
  type AgreementsSource,
} from './agreements-watcher.js';
export { AgreementsUnavailableError } from './agreement-file.js';
export { RevocationStore, REVOKED_DIR } from './revocation-store.js';

// State the node keeps in its data directory.
export { auditAnchorPath, fileAuditAnchor, readAuditAnchor } from './audit-anchor.js';
export { trustedManifestPath } from './trusted-manifest.js';
export {
  fixedManifest,
  type ManifestListener,
  type ManifestSnapshot,
  type ManifestSource,
} from './manifest-watcher.js';

// Exchange and Ingest, as clients see them.
export {
  ERROR_DOMAIN,
  isServiceError,
  statusDetails,
  statusReason,
  type FieldViolation,
  type StatusDetails,
} from './grpc-status-details.js';
export { QUERY_PAGE_MAX } from './exchange/query.js';
export { Pseudonyms, subjectRefsOf } from './exchange/pseudonyms.js';
export { presentRecord, refAgreement, type StreamRefs } from './stream-refs.js';

// Worker pools (the CLI verifies with the same pool).
export { VerifyPool, type PoolResult, type VerifyPoolOptions } from './workers/verify-pool.js';

// Building blocks (benchmarks, embedding): parts of the node that `Gateway.start` wires together, for
// code that measures or runs one of them on its own (bench/ingest.ts, bench/receive.ts).
export { IngestPipeline, type IngestPipelineOptions, type IngestReceipt } from './ingest-pipeline.js';
export { SealPool, type SealPoolOptions } from './workers/seal-pool.js';
export { GatewayMetrics } from './metrics.js';
export { eventsStreamConfig } from './streams.js';
export { ReceiveWorker, type ReceiveWorkerOptions } from './receive-worker.js';
export { syncDirectory, writeFileAtomic, type WriteFileAtomicOptions } from './atomic-file.js';
