// The Exchange benchmarks' moving parts: MK and RS with keys, client certificates pinned in the manifest,
// a records agreement MK → RS (with subject references), an MK gateway in this process with Exchange on
// mutual TLS, and N sealed events published straight into its WBX_EVENTS.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { credentials } from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { EXCHANGE_CHANNEL_OPTIONS } from '@wbx/cli';
import { makeFederation } from '@wbx/fixtures';
import { createLogger, Gateway, loadGatewayConfig } from '@wbx/gateway';
import { makeDemoPki } from '@wbx/pki';
import { ExchangeClient } from '@wbx/proto';
import { createSealer } from '@wbx/seal';
import { validateEvent } from '@wbx/schema';
import { startGatewayProcess } from '@wbx/test-helpers';

import { pipelined, wbxBin } from './_common.ts';
import { sharedEvents, waitFor } from './_share-setup.ts';

export const AGREEMENT = 'MK-RS-exchange-bench';
export const PURPOSE = 'risk-analysis';
// prettier-ignore
export const RS_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'crossing.irregular': [
    'occurredAt', 'routeSegment', 'direction', 'persons.citizenship', 'persons.ageBand', 'persons.subjectRef',
  ],
  'smuggling.incident': ['occurredAt', 'routeSegment', 'migrantsCount', 'modusOperandi'],
};

export interface ExchangeBench {
  readonly mk: Gateway;
  readonly client: ExchangeClient;
  /** RS's mTLS files, for a client in another process. */
  readonly files: { readonly ca: string; readonly cert: string; readonly key: string };
  readonly tokens: readonly string[];
  /**
   * Stops this gateway and its client, and starts MK again as a `wbx gateway` process with the same
   * settings and data (its embedded nats-server keeps its store, the Match index its bucket): the gateway a
   * partner meets right after a restart, compiled code and caches cold, with a new client channel.
   */
  restartedAsProcess(): Promise<RestartedExchange>;
  close(): Promise<void>;
}

/** MK as a `wbx gateway` process after a restart, and RS's client of its Exchange. */
export interface RestartedExchange {
  readonly pid: number;
  readonly client: ExchangeClient;
  /** Stops this process and its client, and starts MK again the same way. */
  restarted(): Promise<RestartedExchange>;
  close(): Promise<void>;
}

/** Dotted settings (`exchange.tls.cert`) as the nested object a configuration file holds. */
function nested(settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(settings)) {
    const keys = path.split('.');
    let at = out;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys.at(-1) ?? path] = value;
  }
  return out;
}

/** Sets everything up under `dir` and publishes `n` sealed MK events into WBX_EVENTS. */
export async function setUpExchange(
  dir: string,
  n: number,
  settings: Record<string, unknown> = {},
): Promise<ExchangeBench> {
  await mkdir(join(dir, 'pki'), { recursive: true });
  const pki = await makeDemoPki(join(dir, 'pki'), ['MK', 'RS']);
  const pin = (p: string): string[] => [pki.clients.get(p)?.sha256 ?? ''];
  const fed = await makeFederation(dir, ['MK', 'RS'], { MK: pin('MK'), RS: pin('RS') });
  await fed.agree({
    id: AGREEMENT,
    provider: 'MK',
    recipient: 'RS',
    purposes: [PURPOSE],
    legalBasis: 'Benchmark agreement',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: Object.entries(RS_FIELDS).map(([type, fields]) => ({
      types: [type],
      mode: 'records',
      fields,
      retentionDays: 30,
    })),
  });
  const raw: Record<string, unknown> = {
    partner: 'MK',
    key: fed.identity.keyFile('MK'),
    manifest: fed.identity.manifestFile,
    data: fed.dataDir('MK'),
    agreements: fed.agreementsDir('MK'),
    'grpc.listen': '127.0.0.1:0',
    'grpc.insecure': true,
    'http.listen': '127.0.0.1:0',
    'exchange.listen': '127.0.0.1:0',
    'exchange.tls.cert': pki.server.cert,
    'exchange.tls.key': pki.server.key,
    'exchange.tls.clientCa': pki.ca,
    'log.level': 'warn',
    ...settings,
  };
  const config = await loadGatewayConfig(undefined, {}, raw);
  const configFile = join(dir, 'MK-gateway.json');
  await writeFile(configFile, JSON.stringify(nested(raw)));
  const mk = await Gateway.start(config, { log: createLogger('warn', 'MK'), drainMs: 2_000 });
  // Events of the agreed types only: every one of them is returned.
  const mkKey = fed.key('MK');
  const sealer = createSealer({ issuer: 'MK', kid: mkKey.kid, privateKey: mkKey.key });
  const now = new Date();
  const sealed = sharedEvents(n, 'exchange').map((json) => {
    const r = validateEvent(json, { now });
    if (!r.ok) throw new Error('generated event is invalid');
    return { id: r.event.eventId, type: r.event.type, token: sealer.seal(r.event, { now }) };
  });
  const js = jetstream(mk.nats);
  await pipelined(sealed, 512, (e) =>
    js.publish(`wbx.evt.MK.${e.type}`, e.token, {
      msgID: e.id,
      expect: { streamName: 'WBX_EVENTS' },
      timeout: 30_000,
    }),
  );
  // The share worker shares (and audits) each event with RS too: let it finish before anything is measured.
  const jsm = await jetstreamManager(mk.nats);
  await waitFor(
    'the share worker to catch up',
    async () => (await jsm.streams.info('WBX_SHARE_RS')).state.messages >= n,
    900_000,
    100,
  );
  const rs = pki.clients.get('RS');
  if (rs === undefined) throw new Error('no RS certificate');
  const [ca, cert, key] = await Promise.all([readFile(pki.ca), readFile(rs.cert), readFile(rs.key)]);
  const files = { ca: pki.ca, cert: rs.cert, key: rs.key };
  const tokens = sealed.map((e) => e.token);
  const clientOf = (address: string): ExchangeClient =>
    new ExchangeClient(address, credentials.createSsl(ca, key, cert), {
      ...EXCHANGE_CHANNEL_OPTIONS,
      'grpc.ssl_target_name_override': 'localhost',
    });
  const startProcess = async (): Promise<RestartedExchange> => {
    const child = await startGatewayProcess(wbxBin, ['--config', configFile], { timeoutMs: 120_000 });
    const restarted = clientOf(child.ready.exchange ?? '');
    const stop = async (): Promise<void> => {
      restarted.close();
      await child.stop(15_000);
    };
    return {
      pid: child.process.pid ?? 0,
      client: restarted,
      async restarted() {
        await stop();
        return startProcess();
      },
      close: stop,
    };
  };
  const client = clientOf(mk.exchangeAddress ?? '');
  const close = async (): Promise<void> => {
    client.close();
    await mk.stop();
  };
  return {
    mk,
    client,
    files,
    tokens,
    async restartedAsProcess() {
      await close();
      return startProcess();
    },
    close,
  };
}
