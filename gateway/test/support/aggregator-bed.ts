import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { AuditLog } from '@wbx/audit';
import { startNatsServer } from '@wbx/test-helpers';

import { shareStream, STATE_BUCKET } from '../../src/nats-layout.js';
import { openAudit, partners, type Partners } from './fixtures.js';

/** What an aggregator of MK sharing with AL runs on; disposing of it closes and stops everything. */
export interface AggregatorBed extends AsyncDisposable {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The aggregator's state bucket. */
  readonly state: KV;
  readonly p: Partners;
  readonly audit: AuditLog;
}

/**
 * A fresh nats-server with the state bucket and AL's share stream, MK and AL with keys valid in 2023
 * (when the tests' aggregates are sealed), and MK's audit log.
 */
export async function aggregatorBed(): Promise<AggregatorBed> {
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const state = await new Kvm(js).create(STATE_BUCKET);
  await jsm.streams.add({ name: shareStream('AL'), subjects: ['wbx.share.AL.>'] });
  const p = await partners(['MK', 'AL'], new Date('2023-01-01T00:00:00Z'));
  const audit = await openAudit(js, jsm, p);
  return {
    js,
    jsm,
    state,
    p,
    audit,
    async [Symbol.asyncDispose]() {
      await audit.close();
      await nc.close();
      await nats[Symbol.asyncDispose]();
    },
  };
}
