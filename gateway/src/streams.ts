import { setTimeout as sleep } from 'node:timers/promises';

import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type ClusterInfo,
  type StreamConfig,
  type StreamInfo,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';

import type { GatewayConfig } from './config.js';
import { bucketStream, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, subjectsUnder } from './nats-layout.js';

const ms = (n: number): number => n * 1_000_000;

/** WBX_EVENTS as the configuration wants it: the partner's own sealed events, file storage. */
export function eventsStreamConfig(
  partner: string,
  config: GatewayConfig['streams'],
): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENTS_STREAM,
    subjects: [subjectsUnder(`${EVENTS_SUBJECT_PREFIX}.${partner}`)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: ms(config.maxAge),
    max_bytes: config.maxBytes,
    duplicate_window: ms(config.duplicateWindow),
    num_replicas: config.replicas,
  };
}

/** JetStream's code for a create that found the stream there (with another configuration). */
const STREAM_NAME_EXISTS = 10_058;

/** A stream's or consumer's replicas did not settle in time (a node down or catching up): transient. */
export class NotSettledError extends Error {
  override readonly name = 'NotSettledError';
}

/** A stream's wanted configuration: its name and the settings WBX cares about. */
export type StreamConfigInput = Partial<StreamConfig> & { name: string };

/**
 * Creates the stream, or updates it to the configuration when it exists; safe to run at every start, by
 * several replicas at once (a create that lost the race to another one updates what it created). A
 * change of replicas (e.g. a stream made with one, now on a cluster with `streams.replicas: 3`) is waited
 * for: the stream and its consumers have a leader and every replica is current, since until then
 * publishes to it may go unanswered.
 */
export async function ensureStream(jsm: JetStreamManager, wanted: StreamConfigInput): Promise<void> {
  const name = wanted.name;
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(name);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.StreamNotFound) throw e;
    try {
      await jsm.streams.add(wanted);
      return;
    } catch (e) {
      // Another replica created it meanwhile: read it again and bring it to the configuration.
      if (!(e instanceof JetStreamApiError) || e.code !== STREAM_NAME_EXISTS) throw e;
      info = await jsm.streams.info(name);
    }
  }
  await jsm.streams.update(name, { ...info.config, ...wanted });
  const replicas = wanted.num_replicas;
  if (replicas !== undefined && replicas !== info.config.num_replicas) await settled(jsm, name, replicas);
}

/**
 * Brings an existing stream to `replicas` (and waits for it to settle, see {@link ensureStream}); a stream
 * that does not exist is left to its owner to create. For streams whose configuration another package
 * owns (the audit log's), before that package opens it.
 */
export async function ensureReplicas(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  try {
    await jsm.streams.info(stream);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return;
    throw e;
  }
  await ensureStream(jsm, { name: stream, num_replicas: replicas });
}

/** How long a change of a stream's replicas may take to settle. */
const REPLICAS_SETTLE_MS = 30_000;

/** Whether a stream's or consumer's cluster has a leader and `replicas - 1` other current replicas. */
function settledCluster(cluster: ClusterInfo | undefined, replicas: number): boolean {
  if (cluster === undefined) return replicas === 1;
  const others = cluster.replicas ?? [];
  return (cluster.leader ?? '') !== '' && others.length === replicas - 1 && others.every((r) => r.current);
}

/** Waits until the stream and each of its consumers has `replicas` replicas, all current, and a leader. */
async function settled(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const deadline = Date.now() + REPLICAS_SETTLE_MS;
  const wait = async (what: string, probe: () => Promise<boolean>): Promise<void> => {
    while (!(await probe())) {
      if (Date.now() > deadline) throw new NotSettledError(`${what} did not settle on ${replicas} replicas`);
      await sleep(50);
    }
  };
  await wait(stream, async () => settledCluster((await jsm.streams.info(stream)).cluster, replicas));
  for await (const consumer of jsm.consumers.list(stream)) {
    // A consumer with replicas of its own (num_replicas > 0) keeps them; the others follow the stream.
    const own = consumer.config.num_replicas ?? 0;
    const want = own > 0 ? own : replicas;
    const durable = consumer.name;
    await wait(`${stream} > ${durable}`, async () =>
      settledCluster((await jsm.consumers.info(stream, durable)).cluster, want),
    );
  }
}

/**
 * Opens the KV bucket, creating it with `options` when it does not exist; an existing bucket (which
 * keeps its settings on create) is brought to `options.replicas` through its stream `KV_<bucket>`.
 */
export async function openBucket(
  js: JetStreamClient,
  jsm: JetStreamManager,
  bucket: string,
  options: Partial<KvOptions> & { replicas: number },
): Promise<KV> {
  const kv = await new Kvm(js).create(bucket, options);
  await ensureStream(jsm, { name: bucketStream(bucket), num_replicas: options.replicas });
  return kv;
}

/** JetStream's codes for a create that found the consumer there with another configuration. */
const CONSUMER_EXISTS = new Set([10_013, 10_148]);

/**
 * Creates the durable consumer, or brings an existing one up to the wanted configuration (a consumer
 * created by an earlier version keeps its delivery state); safe to run at every start.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  wanted: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    await jsm.consumers.add(stream, wanted);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || !CONSUMER_EXISTS.has(e.code)) throw e;
    const info = await jsm.consumers.info(stream, wanted.durable_name);
    await jsm.consumers.update(stream, wanted.durable_name, { ...info.config, ...wanted });
  }
}

/**
 * What one recipient may ask of its share consumer in one pull (DESIGN.md, recipient access): a
 * recipient's pull requests are served by the origin's server, so their number, size and lifetime are
 * bounded; a pull beyond these is refused by the server with a 409 status.
 */
export const SHARE_CONSUMER_LIMITS = {
  /** Pull requests waiting at once. */
  max_waiting: 32,
  /** Messages in one pull (the receive worker asks for 512). */
  max_batch: 1_024,
  /** Bytes in one pull. */
  max_bytes: 16 * 2 ** 20,
  /** How long one pull may wait, in ns (nats.js asks for 30 s). */
  max_expires: 60_000_000_000,
} as const satisfies Partial<ConsumerConfig>;
