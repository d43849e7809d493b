import { Writable } from 'node:stream';

import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '@wbx/test-helpers';
import { pino } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { StreamFillMonitor } from '../../src/stream-fill.js';

interface LogLine {
  level: number;
  msg: string;
  stream?: string;
  limit?: string;
}

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger(lines: LogLine[]) {
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return pino({ level: 'info' }, out);
}

describe('StreamFillMonitor', () => {
  it('sets the fill gauge per limit and warns once above 80 %, then says when it is back below', async () => {
    await using nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({
        name: 'FILL_TEST',
        subjects: ['fill.>'],
        storage: StorageType.File,
        max_msgs: 10,
        max_bytes: 1_000_000,
      });
      const js = jetstream(nc);
      for (let i = 0; i < 9; i++) await js.publish('fill.x', 'x');
      const registry = new Registry();
      const gauge = new Gauge({
        name: 'fill_ratio',
        help: 'test',
        labelNames: ['stream', 'limit'] as const,
        registers: [registry],
      });
      const lines: LogLine[] = [];
      const monitor = new StreamFillMonitor({
        jsm,
        streams: ['FILL_TEST'],
        gauge,
        log: capturingLogger(lines),
      });

      await monitor.check();
      await monitor.check();
      const values = (await gauge.get()).values;
      expect(values.find((v) => v.labels.limit === 'messages')?.value).toBeCloseTo(0.9);
      expect(values.find((v) => v.labels.limit === 'bytes')?.value).toBeLessThan(0.01);
      const warnings = lines.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ stream: 'FILL_TEST', limit: 'messages' });

      await jsm.streams.purge('FILL_TEST');
      await monitor.check();
      expect((await gauge.get()).values.find((v) => v.labels.limit === 'messages')?.value).toBe(0);
      expect(lines.filter((l) => l.level === 30 && /back below/.test(l.msg))).toHaveLength(1);
    } finally {
      await nc.close();
    }
  });
});
