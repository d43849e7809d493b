// Sharing under faults: the recipient's gateway (a child process) is killed -9 and the origin's embedded
// nats-server is killed -9 (its supervisor restarts it) while MK shares records with RS; afterwards RS's
// WBX_INBOX holds every shared event exactly once and MK's share consumer for RS has nothing left over.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Event } from '@wbx/proto';
import { validateEvent } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wbxBinary } from '@wbx/cli';
import YAML from 'yaml';

import type { Gateway } from '@wbx/gateway';
import { GATEWAY_NKEY_FILE } from '@wbx/gateway';
import { startFederation, type Federation } from '@wbx/fixtures';
import { startGatewayProcess, until, type GatewayProcess } from '@wbx/test-helpers';
import { alive } from '@wbx/gateway';
import { submitRetrying } from '../support/submit.js';

const WBX = wbxBinary();
const TYPES = ['crossing.irregular', 'smuggling.incident'];
const FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship', 'persons.ageBand', 'migrantsCount'];
const COUNT = 5_000;

/** RS's gateways, each in its own process group (cleanup reaches the nats-server it starts). */
const children: GatewayProcess[] = [];

async function spawnGateway(configFile: string): Promise<GatewayProcess> {
  const gateway = await startGatewayProcess(WBX, ['--config', configFile], { group: true });
  children.push(gateway);
  return gateway;
}

/** `until`, where a probe that fails (MK's NATS is down, RS's gateway restarts) counts as not yet. */
function untilUp<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  return until(what, () => probe().catch(() => undefined), ms);
}

/**
 * Unary Submit of every event, `window` in flight; a failed call (e.g. while MK's NATS is down) is retried
 * with the same eventId until it is acknowledged or `deadline` (epoch ms) passes.
 */

let fed: Federation;
let mk: Gateway;
let events: Event[];
let rsData: string;
let configFile: string;
let rsNats: NatsConnection | undefined;

beforeAll(async () => {
  fed = await startFederation(['MK', 'RS']);
  await fed.agree({
    id: 'MK-RS-faults',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: [{ types: TYPES, mode: 'records', fields: FIELDS, retentionDays: 30 }],
  });
  mk = await fed.start('MK');
  const agreed = generateEvents({
    partner: 'MK',
    count: 4 * COUNT,
    seed: 'sharing-faults',
    from: new Date('2024-01-01T00:00:00Z'),
    to: new Date('2024-03-01T00:00:00Z'),
  });
  events = [];
  for (const e of agreed) {
    if (!TYPES.includes(e.type)) continue;
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    events.push(Event.fromJSON(e));
    if (events.length === COUNT) break;
  }
  if (events.length !== COUNT) throw new Error(`only ${events.length} events of the agreed types`);
  rsData = join(fed.dir, 'data', 'RS');
  configFile = join(fed.dir, 'rs-gateway.yaml');
  const config = {
    partner: 'RS',
    key: fed.identity.keyFile('RS'),
    manifest: fed.identity.manifestFile,
    data: rsData,
    agreements: fed.agreementsDir('RS'),
    grpc: { listen: '127.0.0.1:0', insecure: true },
    http: { listen: '127.0.0.1:0' },
    receive: [{ partner: 'MK', url: mk.natsUrl, nkeyFile: join(mk.accessDir!, 'RS.nkey') }],
    log: { level: 'warn' },
  };
  await writeFile(configFile, YAML.stringify(config));
}, 30_000);

afterAll(async () => {
  await rsNats?.close();
  // Each RS gateway and whatever nats-server it left behind go with their process groups.
  for (const child of children) await child.stop(5_000);
  await fed[Symbol.asyncDispose]();
}, 30_000);

describe('sharing under faults', () => {
  it("kill -9 the recipient's gateway and restart the origin's nats-server during sharing: afterwards every shared event is in the inbox exactly once", async () => {
    const rs1 = await spawnGateway(configFile);
    const mkm = await jetstreamManager(mk.nats);
    // Short requests while MK's NATS is down.
    const probe = await jetstreamManager(mk.nats, { timeout: 1_000 });
    const rsConsumer = (): Promise<ConsumerInfo> => mkm.consumers.info('WBX_SHARE_RS', 'RS');

    const ingest = submitRetrying(mk.grpcAddress, events, 64, Date.now() + 60_000);
    ingest.catch(() => undefined);

    // RS is receiving: it has stored and acknowledged some, and more are on their way.
    await untilUp(
      'RS to acknowledge 300 events',
      async () => ((await rsConsumer()).ack_floor.stream_seq >= 300 ? true : undefined),
      30_000,
    );
    expect((await rsConsumer()).ack_floor.stream_seq).toBeLessThan(COUNT);
    await rs1.kill('SIGKILL');

    const pidFile = join(mk.config.data, 'nats', 'nats-server.pid');
    const mkNatsPid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(alive(mkNatsPid)).toBe(true);
    process.kill(mkNatsPid, 'SIGKILL');
    // The supervisor brings it back on the same port, the gateway reconnects and shares on.
    await untilUp(
      'MK nats-server restarted',
      async () => {
        const pid = Number((await readFile(pidFile, 'utf8')).trim());
        return pid !== mkNatsPid && alive(pid) ? pid : undefined;
      },
      15_000,
    );
    await untilUp(
      'MK JetStream back',
      async () => (await probe.streams.info('WBX_SHARE_RS')).state.messages,
      15_000,
    );

    const rs2 = await spawnGateway(configFile);
    await ingest;

    const seed = (await readFile(join(rsData, 'nats-access', GATEWAY_NKEY_FILE), 'utf8')).trim();
    rsNats = await connect({
      servers: rs2.ready.nats,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
    });
    const rsm = await jetstreamManager(rsNats);
    const stored = await untilUp(
      'RS inbox to hold every shared event',
      async () => {
        const n = (await rsm.streams.info('WBX_INBOX')).state.messages;
        return n >= COUNT ? n : undefined;
      },
      50_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; RS log: ${rs2.stderr()}`);
    });
    expect(stored).toBe(COUNT);

    // Every message of the inbox, by the token's jti; its Nats-Msg-Id is `<issuer>.<jti>`.
    const seen = new Map<string, number>();
    const consumer = await jetstream(rsNats).consumers.get('WBX_INBOX');
    let read = 0;
    while (read < stored) {
      const batch = await consumer.fetch({ max_messages: 1_000, expires: 5_000 });
      let got = 0;
      for await (const m of batch) {
        got += 1;
        const id = m.headers?.get('Nats-Msg-Id') ?? '';
        const { claims } = readOwnSealedEvent(m.string());
        expect(id).toBe(`MK.${String(claims.jti)}`);
        expect(claims.iss).toBe('MK');
        const jti = String(claims.jti);
        seen.set(jti, (seen.get(jti) ?? 0) + 1);
      }
      if (got === 0) break;
      read += got;
    }
    expect(read).toBe(COUNT);
    const expected = new Set(events.map((e) => e.eventId));
    const twice = [...seen].filter(([, n]) => n !== 1).map(([id]) => id);
    const missing = [...expected].filter((id) => !seen.has(id));
    const unexpected = [...seen.keys()].filter((id) => !expected.has(id));
    expect({ twice, missing, unexpected }).toEqual({ twice: [], missing: [], unexpected: [] });

    // MK shared each once, and RS's consumer on MK's NATS has nothing pending or unacknowledged.
    expect((await mkm.streams.info('WBX_SHARE_RS')).state.messages).toBe(COUNT);
    const settled = await untilUp(
      'RS consumer settled',
      async () => {
        const info = await rsConsumer();
        return info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
      },
      40_000,
    ).catch(async (e: unknown) => {
      const info = await rsConsumer();
      throw new Error(
        `${(e as Error).message}: pending ${info.num_pending}, ack pending ${info.num_ack_pending}`,
      );
    });
    expect(settled.ack_floor.stream_seq).toBe(COUNT);
    expect((await rsm.streams.info('WBX_INBOX')).state.messages).toBe(COUNT);
    expect((await rsm.streams.info('WBX_QUARANTINE')).state.messages).toBe(0);
    await rs2.kill('SIGTERM');
  }, 90_000);
});
