import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The gateway's Prometheus metrics, on a registry of its own. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly submitted = new Counter({
    name: 'wbx_ingest_submitted_total',
    help: 'Events submitted to Ingest',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'wbx_ingest_rejected_total',
    help: 'Rejections: one per violation of a rejected event (by violation code), or UNAVAILABLE',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'wbx_ingest_published_total',
    help: 'Events acknowledged by JetStream, by whether they were duplicates',
    labelNames: ['duplicate'] as const,
    registers: [this.registry],
  });
  readonly publishLatency = new Histogram({
    name: 'wbx_publish_latency_seconds',
    help: 'Time from publish to JetStream acknowledgement',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly stageLatency = new Histogram({
    name: 'wbx_stage_latency_ms',
    help: 'Time a sampled submission spent in each hop since the one before (WBX_TRACE_SAMPLE; off by default)',
    labelNames: ['stage'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000],
    registers: [this.registry],
  });
  readonly natsReconnects = new Counter({
    name: 'wbx_nats_reconnects_total',
    help: 'Reconnections to NATS',
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'wbx_connections_refused_total',
    help: 'Connections closed on arrival because a cap was reached, by listener and cap (per_address, total)',
    labelNames: ['listener', 'reason'] as const,
    registers: [this.registry],
  });
  readonly connectionsOpen = new Gauge({
    name: 'wbx_connections_open',
    help: 'Connections a listener holds open (in handshake or established), by listener',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });
  readonly receiveStored = new Counter({
    name: 'wbx_receive_stored_total',
    help: 'Presentations received, verified, within an agreement and stored in WBX_INBOX, by origin',
    labelNames: ['origin'] as const,
    registers: [this.registry],
  });
  readonly receiveQuarantined = new Counter({
    name: 'wbx_receive_quarantined_total',
    help: 'Presentations received and put in WBX_QUARANTINE, by origin and refusal code',
    labelNames: ['origin', 'code'] as const,
    registers: [this.registry],
  });
  readonly receiveReplays = new Counter({
    name: 'wbx_receive_replays_total',
    help: 'Presentations of an event WBX_INBOX already stored, dropped (replays past its duplicate window)',
    labelNames: ['origin'] as const,
    registers: [this.registry],
  });
  readonly inboxRetentionDeleted = new Counter({
    name: 'wbx_inbox_retention_deleted_total',
    help: 'Records deleted from WBX_INBOX by the retention sweep (retention passed, agreement ended or unknown)',
    labelNames: ['origin', 'agreement'] as const,
    registers: [this.registry],
  });
  readonly receiveOriginReachable = new Gauge({
    name: 'wbx_receive_origin_reachable',
    help: 'Whether an origin received from is reachable (0: not for nats.originUnreachableAfter)',
    labelNames: ['origin'] as const,
    registers: [this.registry],
  });
  readonly streamFill = new Gauge({
    name: 'wbx_stream_fill_ratio',
    help: 'How full a bounded stream (WBX_INBOX, WBX_QUARANTINE) is: stored / limit, per limit',
    labelNames: ['stream', 'limit'] as const,
    registers: [this.registry],
  });
  readonly sharePending = new Gauge({
    name: 'wbx_share_pending_messages',
    help: 'Messages a share consumer has not delivered or not had acknowledged (wbx-share, each recipient)',
    labelNames: ['stream', 'consumer'] as const,
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: 'wbx_tls_certificate_expiry_timestamp_seconds',
    help: 'When a listener certificate (grpc, exchange) expires, Unix seconds',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });
  readonly signingKeyExpiry = new Gauge({
    name: 'wbx_signing_key_expiry_timestamp_seconds',
    help: "When one of this partner's signing keys ends (notAfter or revokedAt), Unix seconds",
    labelNames: ['kid'] as const,
    registers: [this.registry],
  });
  readonly manifestVersion = new Gauge({
    name: 'wbx_manifest_version',
    help: 'The version of the federation manifest this gateway runs with (newer ones are taken up live)',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'wbx_' });
  }
}
