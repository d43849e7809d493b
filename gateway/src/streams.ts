import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';

import type { GatewayConfig } from './config.js';
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, subjectsUnder } from './nats-layout.js';

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

/** A stream's wanted configuration: its name and the settings WBX cares about. */
export type StreamConfigInput = Partial<StreamConfig> & { name: string };

/** Creates the stream, or updates it to the configuration when it exists; safe to run at every start. */
export async function ensureStream(jsm: JetStreamManager, wanted: StreamConfigInput): Promise<void> {
  const name = wanted.name;
  try {
    const info = await jsm.streams.info(name);
    await jsm.streams.update(name, { ...info.config, ...wanted });
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.StreamNotFound) throw e;
    await jsm.streams.add(wanted);
  }
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
