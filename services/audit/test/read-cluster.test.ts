import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsCluster, until, type NatsCluster } from '@wbx/test-helpers';
import { describe, expect, it } from 'vitest';

import { AUDIT_STREAM, auditSubject, AuditError, ensureAuditStream, readAudit } from '../src/index.js';

/** The stream's leader node's index (nodes are named `n<i>`). */
async function leaderOf(jsm: JetStreamManager): Promise<number> {
  const leader = await until('a leader of WBX_AUDIT', async () => {
    const name = (await jsm.streams.info(AUDIT_STREAM).catch(() => undefined))?.cluster?.leader;
    return name === undefined || name === '' ? undefined : name;
  });
  return Number(leader.slice(1));
}

async function readSeqs(jsm: JetStreamManager, during?: (n: number) => Promise<void>): Promise<number[]> {
  const seqs: number[] = [];
  for await (const m of readAudit(jsm, 'MK', { stallTimeoutMs: 60_000 })) {
    seqs.push(m.streamSeq);
    if (during !== undefined) await during(seqs.length);
  }
  return seqs;
}

/**
 * readAudit on an R3 WBX_AUDIT of a 3-node cluster reads up to the chain's last entry present at its start
 * (never stops early on the server's pending count), through a leader change and a kill -9 of the node
 * serving it in the middle of a read; with no quorum it fails with READ_INCOMPLETE, never coming back short.
 */
describe('readAudit on a 3-node cluster', () => {
  it('returns every entry after a leader change and through a kill -9 of the node serving the read', async () => {
    await using cluster: NatsCluster = await startNatsCluster(3);
    await using nc = await connect({
      servers: [...cluster.urls],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    for (const origin of ['MK', 'RS']) {
      await until(`an R3 WBX_AUDIT with ${origin}`, () =>
        ensureAuditStream(jsm, origin, { replicas: 3 }).then(
          () => true,
          () => false,
        ),
      );
    }
    // Another origin's entries interleaved: the read is filtered, its end is MK's last sequence.
    const total = 3_000;
    const expected: number[] = [];
    for (let i = 0; i < total; i += 250) {
      const acks = await Promise.all(
        Array.from({ length: 250 }, (_, j) =>
          js.publish(auditSubject((i + j) % 5 === 0 ? 'RS' : 'MK'), `{"n":${i + j}}`),
        ),
      );
      acks.forEach((ack, j) => {
        if ((i + j) % 5 !== 0) expected.push(ack.seq);
      });
    }
    await js.publish(auditSubject('RS'), '{"after":true}');

    const before = await leaderOf(jsm);
    await jsm.streams.info(AUDIT_STREAM);
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${AUDIT_STREAM}`, '', { timeout: 10_000 });
    await until('another leader', async () => (await leaderOf(jsm)) !== before);
    expect(await readSeqs(jsm)).toEqual(expected);

    // The node that serves the read (its ordered consumer is R1, often on the stream leader), killed -9
    // mid-read: the read goes on from another node.
    let reader = -1;
    const killed = await readSeqs(jsm, async (n) => {
      if (n !== 500) return;
      for await (const c of jsm.consumers.list(AUDIT_STREAM)) reader = Number(c.cluster?.leader?.slice(1));
      await cluster.kill(reader);
    });
    expect(killed).toEqual(expected);
    await cluster.restart(reader);
    await until('every replica of WBX_AUDIT current', async () => {
      const info = await jsm.streams.info(AUDIT_STREAM).catch(() => undefined);
      const replicas = info?.cluster?.replicas ?? [];
      return replicas.length === 2 && replicas.every((r) => r.current);
    });

    // Two of three nodes gone mid-read: no leader, no quorum; the read fails, it does not end short.
    const leader = await leaderOf(jsm);
    const victims = [0, 1, 2]
      .filter((i) => i !== leader)
      .slice(0, 1)
      .concat(leader);
    const partial: number[] = [];
    const failure = await (async () => {
      for await (const m of readAudit(jsm, 'MK', { stallTimeoutMs: 3_000 })) {
        partial.push(m.streamSeq);
        if (partial.length === 1) await Promise.all(victims.map((i) => cluster.kill(i)));
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(AuditError);
    expect((failure as AuditError).code).toBe('READ_INCOMPLETE');
    expect(partial.length).toBeLessThan(expected.length);
  }, 180_000);
});
