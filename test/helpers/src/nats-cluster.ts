import { randomUUID } from 'node:crypto';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { withFreePorts } from './internal/free-ports.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { until } from './until.js';

export interface NatsClusterOptions {
  /** The nats-server executable; default: env `WBX_NATS_SERVER`, else `nats-server` on PATH. */
  binary?: string;
  /** Extra nats-server config appended verbatim to every node (accounts, authorization, tls, …). */
  config?: string;
  /** Set `debug: true` and copy the servers' logs to this process's stderr. */
  debug?: boolean;
  /** How long to wait for each server to start and for the cluster's JetStream, in ms; default 20 000. */
  startTimeout?: number;
}

/** What a node's monitoring endpoint `/jsz` says about the JetStream meta group and one stream. */
export interface NodeJetStreamView {
  /** The meta group's leader as this node sees it; undefined while there is none. */
  readonly metaLeader: string | undefined;
  /** Messages of `stream` in this node's own copy (in any account); undefined if it holds none. */
  readonly messages: number | undefined;
  /** On the meta leader: how many other peers it knows and does not mark offline (0 elsewhere). */
  readonly knownPeers: number;
}

/** n real nats-server processes routed into one JetStream cluster; `await using` it. */
export interface NatsCluster extends AsyncDisposable {
  /** The cluster's name (`cluster.name` of every node). */
  readonly name: string;
  /** The nodes, in order; node i has `server_name` `n<i>`. */
  readonly servers: readonly NatsServer[];
  /** Every node's client URL (`nats://127.0.0.1:<port>`), stable across restarts. */
  readonly urls: readonly string[];
  /** Every node's monitoring URL (`http://127.0.0.1:<port>`). */
  readonly monitorUrls: readonly string[];
  /** SIGKILLs node i (a crash) and waits for it to exit; its store dir is kept. */
  kill(i: number): Promise<void>;
  /** Starts node i again (same ports, same store dir) and waits until it sees the meta leader. */
  restart(i: number): Promise<void>;
  /**
   * Waits until every running node sees the same meta leader and (without extra config) JetStream answers
   * a plain client's `$JS.API.INFO`.
   */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** Node i's own view of JetStream (its meta leader and its copy of `stream`). */
  jetStreamView(i: number, stream?: string): Promise<NodeJetStreamView>;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;

function clusterBlock(name: string, routePorts: number[], i: number, monitorPort: number): string {
  const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
  return [
    `http: "127.0.0.1:${monitorPort}"`,
    'cluster {',
    `  name: "${name}"`,
    `  listen: "127.0.0.1:${routePorts[i]}"`,
    `  routes: [${routes.join(', ')}]`,
    '}',
  ].join('\n');
}

interface Jsz {
  meta_cluster?: {
    leader?: string;
    /** On the leader: the other peers, and whether each is current. */
    replicas?: { name: string; current?: boolean; offline?: boolean }[];
  };
  account_details?: { stream_detail?: { name: string; state?: { messages?: number } }[] }[];
}

/**
 * Starts `n` nats-server processes on 127.0.0.1 routed into one cluster, each with JetStream in its own
 * store dir, and waits until JetStream has a meta leader. Ports are chosen free before the start and
 * written into the configs, so a restarted node comes back on the same ones.
 */
export async function startNatsCluster(n = 3, opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const name = `wbx-${randomUUID().slice(0, 8)}`;
  const timeout = opts.startTimeout ?? DEFAULT_START_TIMEOUT_MS;
  await using stack = new AsyncDisposableStack();
  // A port picked free may be taken before its node listens: then every node starts again on new ones.
  const { servers, monitorPorts } = await withFreePorts(2 * n, async (ports) => {
    const routePorts = ports.slice(0, n);
    const monitorPorts = ports.slice(n);
    const started = await Promise.allSettled(
      routePorts.map((_, i) =>
        startNatsServer({
          ...(opts.binary === undefined ? {} : { binary: opts.binary }),
          ...(opts.debug === undefined ? {} : { debug: opts.debug }),
          serverName: `n${i}`,
          startTimeout: timeout,
          config: [clusterBlock(name, routePorts, i, monitorPorts[i] ?? 0), opts.config ?? ''].join('\n'),
        }),
      ),
    );
    const servers: NatsServer[] = [];
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.allSettled(servers.map((s) => s[Symbol.asyncDispose]()));
      throw failed.reason;
    }
    return { servers, monitorPorts };
  });
  for (const server of servers) stack.use(server);
  const cluster = new RunningNatsCluster(
    name,
    servers,
    monitorPorts,
    timeout,
    (opts.config ?? '').trim() === '',
  );
  try {
    await cluster.waitForJetStream();
  } catch (e) {
    // What each node saw, and the end of its log: a cluster that never formed says why.
    const views = await Promise.all(
      servers.map((_, i) => cluster.jetStreamView(i).then(JSON.stringify, (err: unknown) => String(err))),
    );
    const detail = servers.map(
      (s, i) => `n${i}: ${views[i] ?? ''}\n${s.output().split('\n').slice(-8).join('\n')}`,
    );
    throw new Error(`${(e as Error).message}\n${detail.join('\n')}`, { cause: e });
  }
  stack.move();
  return cluster;
}

class RunningNatsCluster implements NatsCluster {
  readonly urls: readonly string[];
  readonly monitorUrls: readonly string[];

  constructor(
    readonly name: string,
    readonly servers: readonly NatsServer[],
    monitorPorts: readonly number[],
    private readonly timeoutMs: number,
    private readonly plainClients: boolean,
  ) {
    this.urls = servers.map((s) => s.url);
    this.monitorUrls = monitorPorts.map((p) => `http://127.0.0.1:${p}`);
  }

  private node(i: number): NatsServer {
    const server = this.servers[i];
    if (server === undefined) throw new RangeError(`no node ${i} in a cluster of ${this.servers.length}`);
    return server;
  }

  async kill(i: number): Promise<void> {
    await this.node(i).kill('SIGKILL');
  }

  async restart(i: number): Promise<void> {
    await this.node(i).restart();
    await until(
      `node n${i} to see the meta leader`,
      async () => {
        const view = await this.jetStreamView(i).catch(() => undefined);
        return view?.metaLeader !== undefined;
      },
      this.timeoutMs,
    );
  }

  async jetStreamView(i: number, stream?: string): Promise<NodeJetStreamView> {
    const query = stream === undefined ? '' : '?accounts=true&streams=true';
    const res = await fetch(`${this.monitorUrls[i] ?? ''}/jsz${query}`);
    if (!res.ok) throw new Error(`/jsz of node n${i}: HTTP ${res.status}`);
    const jsz = (await res.json()) as Jsz;
    const leader = jsz.meta_cluster?.leader;
    const details = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    const own = stream === undefined ? undefined : details.find((s) => s.name === stream);
    const peers = jsz.meta_cluster?.replicas ?? [];
    return {
      metaLeader: leader === undefined || leader === '' ? undefined : leader,
      messages: own === undefined ? undefined : (own.state?.messages ?? 0),
      knownPeers: peers.filter((r) => r.offline !== true).length,
    };
  }

  async waitForJetStream(timeoutMs = this.timeoutMs): Promise<void> {
    await until(
      'the JetStream meta leader',
      async () => {
        const running = this.servers.map((s, i) => [s, i] as const).filter(([s]) => s.running);
        const views = await Promise.all(running.map(([, i]) => this.jetStreamView(i).catch(() => undefined)));
        const leaders = new Set(views.map((v) => v?.metaLeader));
        if (leaders.size !== 1 || leaders.has(undefined)) return false;
        // Every running peer known to the leader: before that, an R3 stream may find "no suitable peers
        // for placement".
        const known = Math.max(...views.map((v) => v?.knownPeers ?? 0));
        return known >= running.length - 1;
      },
      timeoutMs,
      100,
    );
    // With extra config (accounts, TLS) a plain client may not get in: the meta leader is enough then.
    if (!this.plainClients) return;
    const servers = this.servers.filter((s) => s.running).map((s) => s.url);
    await until(
      'JetStream to answer a client',
      async () => {
        try {
          await using nc = await connect({ servers, reconnect: false, timeout: 2_000 });
          await (await jetstreamManager(nc)).getAccountInfo();
          return true;
        } catch {
          return false;
        }
      },
      timeoutMs,
      100,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const results = await Promise.allSettled(this.servers.map((s) => s[Symbol.asyncDispose]()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}
