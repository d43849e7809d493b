// The sharing benchmarks' moving parts: records agreements in a federation directory (@wbx/fixtures'
// makeFederation: keys, a manifest, agreements and data directories), gateways in process (@wbx/gateway)
// or as `wbx gateway` child processes, sealed events.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { FederationDir } from '@wbx/fixtures';
import { createLogger, Gateway, loadGatewayConfig } from '@wbx/gateway';
import { validateEvent } from '@wbx/schema';
import { createSealer } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';

import { startGatewayChild, type Running } from './_ingest-setup.ts';

/** The agreed types: every bench event is of one of them, so every recipient gets every event. */
export const SHARED_TYPES = ['crossing.irregular', 'smuggling.incident'] as const;

/** Per recipient, a records agreement with its own field set for each agreed type. */
// prettier-ignore
export const RECIPIENT_FIELDS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  RS: {
    'crossing.irregular': [
      'occurredAt', 'routeSegment', 'direction', 'persons.citizenship', 'persons.ageBand',
    ],
    'smuggling.incident': ['occurredAt', 'routeSegment', 'migrantsCount', 'modusOperandi'],
  },
  AL: {
    'crossing.irregular': [
      'occurredAt', 'borderSection', 'routeSegment', 'persons.citizenship', 'persons.sex',
      'persons.ageBand', 'persons.unaccompaniedMinor',
    ],
    'smuggling.incident': [
      'occurredAt', 'routeSegment', 'migrantsCount', 'facilitatorsApprehended', 'vehicleType',
    ],
  },
  FRONTEX: {
    'crossing.irregular': [
      'occurredAt', 'routeSegment', 'detectionMethod', 'facilitatorSuspected', 'persons.citizenship',
      'persons.sex', 'persons.ageBand',
    ],
    'smuggling.incident': [
      'occurredAt', 'routeSegment', 'migrantsCount', 'modusOperandi', 'facilitatorsApprehended',
    ],
  },
};

/**
 * MK → recipient: a records agreement (the recipient's field sets, plus `extra` fields per type), signed by
 * both, in both directories.
 */
export async function agreeRecords(
  fed: FederationDir,
  recipient: string,
  extra: Readonly<Record<string, readonly string[]>> = {},
): Promise<void> {
  const fields = RECIPIENT_FIELDS[recipient];
  if (fields === undefined) throw new Error(`no field set for ${recipient}`);
  await fed.agree({
    id: `MK-${recipient}-bench`,
    provider: 'MK',
    recipient,
    purposes: ['border-management', 'risk-analysis'],
    legalBasis: 'Benchmark agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: Object.entries(fields).map(([type, f]) => ({
      types: [type],
      mode: 'records',
      fields: [...f, ...(extra[type] ?? [])],
      retentionDays: 30,
    })),
  });
}

export interface ReceiveFrom {
  readonly partner: string;
  readonly url: string;
  readonly nkeyFile: string;
}

/** A partner's gateway configuration (embedded nats-server, loopback plaintext gRPC), as a plain tree. */
export function gatewaySettings(
  fed: FederationDir,
  partner: string,
  receive: readonly ReceiveFrom[] = [],
): Record<string, unknown> {
  return {
    partner,
    key: fed.identity.keyFile(partner),
    manifest: fed.identity.manifestFile,
    data: fed.dataDir(partner),
    agreements: fed.agreementsDir(partner),
    receive,
    grpc: { listen: '127.0.0.1:0', insecure: true },
    http: { listen: '127.0.0.1:0' },
    share: { agreementsPoll: 200 },
    log: { level: 'warn' },
  };
}

/** A gateway in this process. */
export async function startGateway(
  fed: FederationDir,
  partner: string,
  receive: readonly ReceiveFrom[] = [],
): Promise<Gateway> {
  const file = join(fed.dir, `${partner}-gateway.json`);
  await writeFile(file, JSON.stringify(gatewaySettings(fed, partner, receive)));
  // Only the worker threads' count comes from the environment (WBX_INGEST_SEAL_WORKERS=0: all on the
  // main thread), so that a run can be compared with and without them.
  const workers = process.env.WBX_INGEST_SEAL_WORKERS;
  const config = await loadGatewayConfig(
    file,
    workers === undefined ? {} : { WBX_INGEST_SEAL_WORKERS: workers },
    {},
  );
  return Gateway.start(config, { log: createLogger('warn', partner), drainMs: 2_000 });
}

/** `wbx gateway --config <file>` as a child process, ready. */
export async function spawnGateway(
  fed: FederationDir,
  partner: string,
  receive: readonly ReceiveFrom[] = [],
): Promise<Running & { grpc: string; nats: string; http: string }> {
  const file = join(fed.dir, `${partner}-gateway.json`);
  await writeFile(file, JSON.stringify(gatewaySettings(fed, partner, receive)));
  return startGatewayChild(file, 15_000);
}

/** Connects to a gateway's embedded NATS as the gateway itself (its nkey in `<data>/nats-access`). */
export async function connectAsGateway(
  fed: FederationDir,
  partner: string,
  url: string,
): Promise<NatsConnection> {
  const seed = (await readFile(join(fed.dataDir(partner), 'nats-access', 'gateway.nkey'), 'utf8')).trim();
  return connect({ servers: url, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
}

/** Generated MK events of the agreed types (proto3 canonical JSON), validated, deterministic for a seed. */
export function sharedEvents(count: number, seed: string): Record<string, unknown>[] {
  const now = new Date();
  const out: Record<string, unknown>[] = [];
  const from = new Date('2023-01-01T00:00:00Z');
  const to = new Date('2024-01-01T00:00:00Z');
  for (const e of generateEvents({
    partner: 'MK',
    count: 4 * count + 100,
    seed: `bench-share-${seed}`,
    from,
    to,
  })) {
    if (!(SHARED_TYPES as readonly string[]).includes(e.type)) continue;
    const json = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
    if (!validateEvent(json, { now }).ok) throw new Error('generated event is invalid');
    out.push(json);
    if (out.length === count) return out;
  }
  throw new Error(`only ${out.length} generated events of the agreed types`);
}

export interface SealedEvent {
  readonly id: string;
  readonly type: string;
  readonly token: string;
}

/** The events sealed with MK's key, as the gateway's ingest would have sealed them. */
export function sealAll(fed: FederationDir, events: readonly Record<string, unknown>[]): SealedEvent[] {
  const { kid, key } = fed.key('MK');
  const sealer = createSealer({ issuer: 'MK', kid, privateKey: key });
  const now = new Date();
  return events.map((json) => {
    const r = validateEvent(json, { now });
    if (!r.ok) throw new Error('generated event is invalid');
    return { id: r.event.eventId, type: r.event.type, token: sealer.seal(r.event, { now }) };
  });
}

/** Polls `probe` every `everyMs` until it is true; resolves to the time (performance.now()) it was. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 10,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await probe()) return performance.now();
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
