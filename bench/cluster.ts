// pnpm bench cluster [--events N] [--records-only]
// Ingest and share on a three-node JetStream cluster (startNatsCluster(3), every WBX stream and bucket at
// `streams.replicas: 3`), with one and then two MK gateway replicas (`wbx gateway` processes of their own,
// on the same cluster and streams). MK shares records with RS and weekly aggregates with FRONTEX (whose
// running counts are compare-and-set in KV, at R3 too). N events go in over gRPC SubmitStream, split
// evenly across the replicas, and the clock stops when every one is in WBX_SHARE_RS and the share
// consumer has acknowledged (counted) all of them. CPU per event: the gateway processes' and the three
// nats-servers' (from /proc/<pid>/stat). Baseline, same run: raw acknowledged publishes of the same sealed
// events into an R3 stream (pipelined, msgID set, WINDOW in flight). On 2 cores the figure that matters
// is CPU per event: the replicas share the same two cores, so a second one cannot add throughput here.
// --records-only: without the FRONTEX agreement, to show what the aggregates cost.
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { credentials } from '@grpc/grpc-js';
import { jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { makeFederation, type FederationDir } from '@wbx/fixtures';
import { Event, IngestClient, type SubmitResult } from '@wbx/proto';
import { startNatsCluster } from '@wbx/test-helpers';

import { arg, cpuSeconds, machine, pipelined, round } from './_common.ts';
import { startGatewayChild, type Running } from './_ingest-setup.ts';
import { agreeRecords, gatewaySettings, sealAll, sharedEvents, waitFor } from './_share-setup.ts';

const n = arg('events', 4_000);
const WINDOW = 512;
const WARM = 300;
const DAY_NS = 86_400_000_000_000;
const recordsOnly = process.argv.includes('--records-only');

type Json = Record<string, unknown>;

/** MK → FRONTEX: weekly counts by route segment of both agreed types, small cells suppressed. */
async function agreeAggregates(fed: FederationDir): Promise<void> {
  await fed.agree({
    id: 'MK-FRONTEX-bench',
    provider: 'MK',
    recipient: 'FRONTEX',
    purposes: ['risk-analysis'],
    legalBasis: 'Benchmark agreement',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: [
      {
        types: ['crossing.irregular', 'smuggling.incident'],
        mode: 'aggregate',
        dimensions: ['routeSegment'],
        period: 'week',
        minCell: 5,
        retentionDays: 30,
      },
    ],
  });
}

/** One SubmitStream of `list`; rejects unless every event got a receipt. */
async function submitStream(grpc: string, list: readonly Json[]): Promise<void> {
  const client = new IngestClient(grpc, credentials.createInsecure());
  try {
    const call = client.submitStream();
    let receipts = 0;
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: SubmitResult) => {
        if (r.receipt !== undefined) receipts += 1;
      });
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    for (const e of list) {
      if (!call.write(Event.fromJSON(e))) await new Promise<void>((r) => call.once('drain', () => r()));
    }
    call.end();
    await done;
    if (receipts !== list.length) throw new Error(`${receipts} receipts for ${list.length} events`);
  } finally {
    client.close();
  }
}

/** Whether everything in WBX_EVENTS is shared with RS and acknowledged by the share consumer. */
async function allShared(jsm: JetStreamManager, total: number): Promise<boolean> {
  try {
    const events = await jsm.streams.info('WBX_EVENTS');
    const rs = await jsm.streams.info('WBX_SHARE_RS');
    const c = await jsm.consumers.info('WBX_EVENTS', 'wbx-share');
    return (
      events.state.messages === total &&
      rs.state.messages === total &&
      c.ack_floor.stream_seq === events.state.last_seq &&
      c.num_pending === 0 &&
      c.num_ack_pending === 0
    );
  } catch {
    return false; // a request timed out while the cluster was busy: asked again
  }
}

const dir = mkdtempSync(join(tmpdir(), 'wbx-bench-cluster-'));
const cluster = await startNatsCluster(3);
try {
  const fed = await makeFederation(dir, ['MK', 'RS', 'FRONTEX']);
  await agreeRecords(fed, 'RS');
  if (!recordsOnly) await agreeAggregates(fed);
  const nc = await connect({ servers: [...cluster.urls] });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const natsPids = (): number[] => cluster.servers.map((s) => s.pid);
  const sum = (pids: readonly number[]): number => pids.reduce((s, p) => s + cpuSeconds(p), 0);
  let total = 0;

  /** MK replica i: `wbx gateway` on the cluster, its own data directory, R3 streams. */
  const startReplica = async (i: number): Promise<Running & { grpc: string }> => {
    const file = join(dir, `MK-${i}-gateway.json`);
    const settings = {
      ...gatewaySettings(fed, 'MK'),
      data: join(dir, 'data', `MK-${i}`),
      nats: { url: cluster.urls.join(','), publishTimeout: '20s' },
      streams: { replicas: 3 },
    };
    await writeFile(file, JSON.stringify(settings));
    return startGatewayChild(file, 30_000);
  };

  /** Ingest and share of N events through `replicas` replicas: rate and CPU per event. */
  const measure = async (replicas: number) => {
    const gateways: (Running & { grpc: string })[] = [];
    // One after another: the first creates (or scales) the streams.
    for (let i = 0; i < replicas; i++) gateways.push(await startReplica(i));
    try {
      const split = (list: readonly Json[]): Promise<void>[] =>
        gateways.map((g, i) =>
          submitStream(
            g.grpc,
            list.filter((_, j) => j % replicas === i),
          ),
        );
      const warm = sharedEvents(WARM, `warm-${replicas}`);
      await Promise.all(split(warm));
      total += WARM;
      await waitFor('the warm-up to be shared', () => allShared(jsm, total), 300_000, 50);
      const list = sharedEvents(n, `measured-${replicas}`);
      const pids = gateways.map((g) => g.pid);
      const [gw0, nats0, client0] = [sum(pids), sum(natsPids()), process.cpuUsage()];
      const started = performance.now();
      await Promise.all(split(list));
      const ingested = performance.now();
      total += n;
      const done = await waitFor('every event to be shared', () => allShared(jsm, total), 900_000, 50);
      const client = process.cpuUsage(client0);
      const seconds = (done - started) / 1000;
      const result = {
        replicas,
        events_per_s: round(n / seconds),
        ingest_s: round((ingested - started) / 1000, 2),
        ingest_and_share_s: round(seconds, 2),
        cpu_us_per_event: {
          gateways: round(((sum(pids) - gw0) / n) * 1e6),
          nats_servers: round(((sum(natsPids()) - nats0) / n) * 1e6),
          bench_client: round((client.user + client.system) / n),
        },
      };
      console.log(
        `${replicas} MK replica(s): ingest + share ${result.events_per_s} events/s ` +
          `(ingest done after ${result.ingest_s} s, shared and counted after ${result.ingest_and_share_s} s); ` +
          `CPU per event: gateways ${result.cpu_us_per_event.gateways} µs, ` +
          `3 nats-servers ${result.cpu_us_per_event.nats_servers} µs`,
      );
      return result;
    } finally {
      for (const g of gateways) await g.stop();
    }
  };

  const one = await measure(1);
  const two = await measure(2);

  // Raw: the same kind of sealed events, acknowledged publishes into an R3 stream on the same cluster.
  await jsm.streams.add({
    name: 'BENCH_RAW_R3',
    subjects: ['bench.raw.>'],
    storage: StorageType.File,
    num_replicas: 3,
    duplicate_window: DAY_NS,
  });
  const publishRaw = (list: ReturnType<typeof sealAll>): Promise<number> =>
    pipelined(list, WINDOW, (e) =>
      js.publish(`bench.raw.MK.${e.type}`, e.token, {
        msgID: e.id,
        expect: { streamName: 'BENCH_RAW_R3' },
        timeout: 30_000,
      }),
    );
  await publishRaw(sealAll(fed, sharedEvents(WARM, 'warm-raw')));
  const raw = sealAll(fed, sharedEvents(n, 'raw'));
  const rawNats0 = sum(natsPids());
  const rawSeconds = await publishRaw(raw);
  const rawRate = n / rawSeconds;
  const rawNatsUs = ((sum(natsPids()) - rawNats0) / n) * 1e6;
  console.log(
    `raw acked publish into an R3 stream (window ${WINDOW}): ${round(rawRate)} events/s; ` +
      `3 nats-servers ${round(rawNatsUs)} µs CPU per event`,
  );
  console.log(
    `ratios: 1 replica ${round(one.events_per_s / rawRate, 3)} × raw, 2 replicas ` +
      `${round(two.events_per_s / rawRate, 3)} × raw; 2 vs 1 replica: ${round(two.events_per_s / one.events_per_s, 2)} × ` +
      `the rate, ${round(two.cpu_us_per_event.gateways / one.cpu_us_per_event.gateways, 2)} × the gateway CPU per event`,
  );
  await nc.close();

  console.log(
    JSON.stringify({
      bench: 'cluster',
      events: n,
      nodes: 3,
      stream_replicas: 3,
      recipients: recordsOnly
        ? { RS: 'records' }
        : { RS: 'records', FRONTEX: 'aggregate (week × routeSegment)' },
      window: WINDOW,
      one_replica: one,
      two_replicas: two,
      raw_r3_publish: { events_per_s: round(rawRate), nats_servers_cpu_us_per_event: round(rawNatsUs) },
      floor: 'raw acked publish of the same sealed events into an R3 stream, events/s',
      floor_events_per_s: round(rawRate),
      ratio_vs_floor: round(one.events_per_s / rawRate, 3),
      ratio_vs_raw_r3_publish: {
        one_replica: round(one.events_per_s / rawRate, 3),
        two_replicas: round(two.events_per_s / rawRate, 3),
      },
      ratio_two_vs_one_replica: {
        rate: round(two.events_per_s / one.events_per_s, 2),
        gateway_cpu_per_event: round(two.cpu_us_per_event.gateways / one.cpu_us_per_event.gateways, 2),
        nats_cpu_per_event: round(two.cpu_us_per_event.nats_servers / one.cpu_us_per_event.nats_servers, 2),
      },
      load_avg: loadavg().map((l) => round(l, 1)),
      machine: machine(),
    }),
  );
} finally {
  await cluster[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
}
