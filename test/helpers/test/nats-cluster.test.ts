import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';

import { startNatsCluster, until } from '../src/index.js';

const DEPLOY_NATS_CONF = fileURLToPath(new URL('../../../deploy/k8s/base/nats/nats.conf', import.meta.url));

const id = (): string => randomUUID().replaceAll('-', '').slice(0, 12);

describe('startNatsCluster', () => {
  it('keeps an R3 stream writable and readable through a kill -9 of a node, which catches up on restart', async () => {
    await using cluster = await startNatsCluster(3);
    expect(cluster.urls).toHaveLength(3);
    expect(new Set(cluster.urls).size).toBe(3);
    const name = `TEST_CLUSTER_${id()}`;
    const subject = `test.${id()}`;
    await using nc = await connect({
      servers: [...cluster.urls],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const created = await jsm.streams.add({
      name,
      subjects: [`${subject}.>`],
      storage: StorageType.File,
      num_replicas: 3,
    });
    expect(created.config.num_replicas).toBe(3);
    expect(created.cluster?.replicas).toHaveLength(2);
    await js.publish(`${subject}.1`, 'one');

    // Kill a node that is not the stream's leader's only copy: any of them; quorum is 2 of 3.
    const victim = cluster.servers.findIndex((s) => s.url !== nc.getServer());
    await cluster.kill(victim);
    expect(cluster.servers[victim]?.running).toBe(false);
    const ack = await until('a publish acknowledged after the kill', () =>
      js.publish(`${subject}.2`, 'two', { timeout: 2_000 }).catch(() => undefined),
    );
    expect(ack.seq).toBe(2);
    const after = await jsm.streams.info(name);
    expect(after.state.messages).toBe(2);
    expect(after.cluster?.replicas?.find((r) => r.name === `n${victim}`)?.current).not.toBe(true);
    const first = await jsm.streams.getMessage(name, { seq: 1 });
    const second = await jsm.streams.getMessage(name, { seq: 2 });
    expect([first?.string(), second?.string()]).toEqual(['one', 'two']);

    // The restarted node holds both messages in its own copy (its monitoring endpoint's view).
    expect((await cluster.jetStreamView(victim, name).catch(() => undefined))?.messages).toBeUndefined();
    await cluster.restart(victim);
    expect(cluster.servers[victim]?.running).toBe(true);
    await until('the restarted node to catch up', async () => {
      const view = await cluster.jetStreamView(victim, name);
      return view.messages === 2;
    });
    const healed = await until('every replica current', async () => {
      const info = await jsm.streams.info(name);
      const replicas = info.cluster?.replicas ?? [];
      return replicas.length === 2 && replicas.every((r) => r.current) ? info : undefined;
    });
    expect(healed.state.messages).toBe(2);
  }, 120_000);

  it('starts nodes with JetStream in their own store dirs and fixed cluster ports', async () => {
    await using cluster = await startNatsCluster(3);
    expect(new Set(cluster.servers.map((s) => s.storeDir)).size).toBe(3);
    const views = await Promise.all([0, 1, 2].map((i) => cluster.jetStreamView(i)));
    const leaders = new Set(views.map((v) => v.metaLeader));
    expect(leaders.size).toBe(1);
    expect(['n0', 'n1', 'n2']).toContain([...leaders][0]);
  }, 120_000);

  it('boots the StatefulSet’s nats.conf on every node, routes over TLS, and refuses any size but three', async () => {
    await using cluster = await startNatsCluster(3);
    const deployFile = await readFile(DEPLOY_NATS_CONF, 'utf8');
    for (const server of cluster.servers) expect(await readFile(server.configFile, 'utf8')).toBe(deployFile);
    const varz = (await (await fetch(`${cluster.monitorUrls[1] ?? ''}/varz`)).json()) as {
      server_name: string;
      max_payload: number;
      cluster: { name: string; tls_required: boolean; tls_verify: boolean };
    };
    expect(varz.server_name).toBe('n1');
    expect(varz.max_payload).toBe(1024 * 1024);
    expect(varz.cluster).toMatchObject({ name: cluster.name, tls_required: true, tls_verify: true });
    await expect(startNatsCluster(2)).rejects.toThrow(/exactly 3 nodes/);
  }, 120_000);
});
