import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { ManifestBody } from '@wbx/registry';
import { startNatsServer } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { ConsumerPendingMonitor } from '../../src/consumer-pending.js';
import { recordExpiries } from '../../src/expiry-metrics.js';
import { GatewayMetrics } from '../../src/metrics.js';
import { EVENTS_STREAM, SHARE_CONSUMER, shareConsumer, shareStream } from '../../src/nats-layout.js';

const log = pino({ level: 'silent' });

async function gaugeValues(metrics: GatewayMetrics, name: string) {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map((v) => ({ labels: v.labels, value: v.value }));
}

describe('ConsumerPendingMonitor', () => {
  it('reports what wbx-share and each recipient’s consumer still have to deliver or see acknowledged', async () => {
    await using nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['wbx.evt.>'] });
      await jsm.consumers.add(EVENTS_STREAM, {
        durable_name: SHARE_CONSUMER,
        ack_policy: AckPolicy.Explicit,
      });
      await jsm.streams.add({ name: shareStream('RS'), subjects: ['wbx.share.RS.>'] });
      await jsm.consumers.add(shareStream('RS'), {
        durable_name: shareConsumer('RS'),
        ack_policy: AckPolicy.Explicit,
      });
      for (let i = 0; i < 5; i++) await js.publish('wbx.evt.MK.crossing.irregular', `e${i}`);
      for (let i = 0; i < 3; i++) await js.publish('wbx.share.RS.MK.crossing.irregular', `p${i}`);
      // RS fetched one and has not acknowledged it: still pending.
      const consumer = await js.consumers.get(shareStream('RS'), shareConsumer('RS'));
      const batch = await consumer.fetch({ max_messages: 1, expires: 2_000 });
      let fetched: JsMsg | undefined;
      for await (const m of batch) fetched = m;
      expect(fetched?.string()).toBe('p0');

      const metrics = new GatewayMetrics();
      const monitor = new ConsumerPendingMonitor({ jsm, gauge: metrics.sharePending, log });
      await monitor.check();
      expect(await gaugeValues(metrics, 'wbx_share_pending_messages')).toEqual(
        expect.arrayContaining([
          { labels: { stream: EVENTS_STREAM, consumer: SHARE_CONSUMER }, value: 5 },
          { labels: { stream: shareStream('RS'), consumer: 'RS' }, value: 3 },
        ]),
      );
      fetched?.ack();
      await jsm.streams.delete(shareStream('RS'));
      await monitor.check();
      expect(await gaugeValues(metrics, 'wbx_share_pending_messages')).toEqual([
        { labels: { stream: EVENTS_STREAM, consumer: SHARE_CONSUMER }, value: 5 },
      ]);
    } finally {
      await nc.close();
    }
  });
});

describe('recordExpiries', () => {
  it('reports when the listener certificates and the partner’s ending signing keys stop being valid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wbx-expiry-'));
    try {
      await promisify(execFile)('openssl', [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
        ...[
          '-subj',
          '/CN=gateway',
          '-days',
          '30',
          '-keyout',
          join(dir, 'tls.key'),
          '-out',
          join(dir, 'tls.crt'),
        ],
      ]);
      const manifest = {
        members: [
          {
            id: 'MK',
            signingKeys: [
              { kid: 'MK#2026-01-01-1', notBefore: '2026-01-01T00:00:00Z', notAfter: '2027-01-01T00:00:00Z' },
              { kid: 'MK#2026-06-01-1', notBefore: '2026-06-01T00:00:00Z' },
              {
                kid: 'MK#2026-07-01-1',
                notBefore: '2026-07-01T00:00:00Z',
                notAfter: '2028-01-01T00:00:00Z',
                revokedAt: '2026-08-01T00:00:00Z',
              },
            ],
          },
          {
            id: 'RS',
            signingKeys: [
              { kid: 'RS#1', notBefore: '2026-01-01T00:00:00Z', notAfter: '2026-02-01T00:00:00Z' },
            ],
          },
        ],
      } as unknown as ManifestBody;
      const metrics = new GatewayMetrics();
      const tls = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
      const exchange = {
        ...tls,
        clientCa: tls.cert,
        listen: '127.0.0.1:0',
        matchRate: 1,
        matchBurst: 1,
        matchMaxRefs: 1,
      };
      await recordExpiries(
        {
          partner: 'MK',
          grpc: { listen: '127.0.0.1:0', insecure: false, tls },
          exchange: { ...exchange, tls: exchange },
        },
        manifest,
        metrics,
        log,
      );
      const certs = await gaugeValues(metrics, 'wbx_tls_certificate_expiry_timestamp_seconds');
      expect(certs.map((c) => c.labels.listener)).toEqual(['grpc', 'exchange']);
      for (const c of certs) {
        expect(c.value).toBeGreaterThan(Date.now() / 1000 + 29 * 86_400);
        expect(c.value).toBeLessThan(Date.now() / 1000 + 31 * 86_400);
      }
      expect(await gaugeValues(metrics, 'wbx_signing_key_expiry_timestamp_seconds')).toEqual([
        { labels: { kid: 'MK#2026-01-01-1' }, value: Date.parse('2027-01-01T00:00:00Z') / 1000 },
        { labels: { kid: 'MK#2026-07-01-1' }, value: Date.parse('2026-08-01T00:00:00Z') / 1000 },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
