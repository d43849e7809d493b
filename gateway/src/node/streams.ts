import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';

import type { GatewayConfig } from './config.js';

export const EVENTS_STREAM = 'WBX_EVENTS';

export function eventSubject(origin: string, type: string): string {
  return `wbx.evt.${origin}.${type}`;
}

const ms = (n: number): number => n * 1_000_000;

/** WBX_EVENTS as the configuration wants it: the partner's own sealed events, file storage. */
export function eventsStreamConfig(
  partner: string,
  config: GatewayConfig['streams'],
): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENTS_STREAM,
    subjects: [`wbx.evt.${partner}.>`],
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
