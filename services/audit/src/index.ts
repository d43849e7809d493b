export { parseAuditAnchor, type AuditAnchor, type AuditAnchorStore } from './anchor.js';
export {
  appendCovering,
  AuditBatcher,
  type AuditBatcherOptions,
  type AuditSink,
  type CoveringRecord,
} from './audit-batcher.js';
export { AuditLog, type AuditLogOptions, type AuditSigner, type ChainConflict } from './audit-log.js';
export {
  AUDIT_STREAM,
  auditSubject,
  decodeAuditEntry,
  DISCLOSURE_MODES,
  encodeAuditEntry,
  GENESIS_HASH,
  hashAuditEntry,
  isGenesis,
  MAX_EVENT_IDS,
  type AuditEntry,
  type CheckpointEntry,
  type DisclosureEntry,
  type DisclosureMode,
  type DisclosureRecord,
} from './entry.js';
export { AuditError, type AuditErrorCode } from './errors.js';
export { readAudit, type ReadAuditOptions } from './read.js';
export { auditReport, type AuditReportFilter, type AuditReportRow } from './report.js';
export { auditStreamConfig, ensureAuditStream, type AuditStreamOptions } from './stream.js';
export {
  verifyAuditChain,
  type AuditBreakReason,
  type AuditMessage,
  type AuditSource,
  type AuditVerification,
  type BrokenEntry,
  type ChainHead,
  type VerifyAuditOptions,
} from './verify.js';
