import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, until } from '@wbx/test-helpers';
import { describe, expect, it } from 'vitest';

import { ensureAuditStream, verifyAuditChain, type ChainConflict } from '../src/index.js';
import { entriesOf, manifestWith, openLog, readAll, record, testKey } from './support.js';

/**
 * The compare-and-set of two writers of one origin on an R3 stream of a 3-node cluster, each writer
 * connected to another node (two gateway replicas): the stream leader decides, the chain does not fork.
 * (nats-server 2.9.10 does not serialise this check in a cluster; 2.9.21 and later do.)
 */
describe('two writers of one origin on a 3-node cluster', () => {
  it('append concurrently to an R3 stream into one chain: every append once, no fork', async () => {
    await using cluster = await startNatsCluster(3);
    const connections: NatsConnection[] = [];
    try {
      const open = async (i: number) => {
        const nc = await connect({ servers: cluster.urls[i] ?? '', reconnectTimeWait: 100 });
        connections.push(nc);
        return { js: jetstream(nc), jsm: await jetstreamManager(nc) };
      };
      const key = testKey();
      const conflicts: ChainConflict[] = [];
      const options = {
        replicas: 3,
        checkpointEvery: { entries: 20, ms: 0 },
        onConflict: (c: ChainConflict) => conflicts.push(c),
      };
      const first = await open(0);
      // Right after start the meta leader may not know every peer yet ("no suitable peers for placement").
      let refused: unknown;
      await until(
        'an R3 WBX_AUDIT',
        () =>
          ensureAuditStream(first.jsm, 'MK', { replicas: 3 }).then(
            () => true,
            (e: unknown) => {
              refused = e;
              return false;
            },
          ),
        45_000,
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}; last refusal: ${String(refused)}`);
      });
      const a = await openLog(first, key, options);
      const b = await openLog(await open(2), key, options);
      const appends = 150;
      await Promise.all(Array.from({ length: appends }, (_, i) => (i % 2 === 0 ? a : b).append(record(i))));
      await a.close();
      await b.close();

      const messages = await readAll(first.jsm);
      const result = await verifyAuditChain(messages, manifestWith(key.signingKey), 'MK');
      if (!result.ok) throw new Error(`chain does not verify: ${JSON.stringify(result)}`);
      expect(result).toMatchObject({ disclosures: appends, unsealed: 0 });
      expect(result.entries).toBe(appends + result.checkpoints);
      const entries = entriesOf(messages);
      expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
      const disclosed = entries.flatMap((e) => (e.kind === 'disclosure' ? [e.eventId] : []));
      expect(disclosed.toSorted()).toEqual(
        Array.from({ length: appends }, (_, i) => record(i).eventId).toSorted(),
      );
      expect(conflicts.length).toBeGreaterThan(0);
    } finally {
      for (const nc of connections) await nc.close();
    }
  }, 90_000);
});
