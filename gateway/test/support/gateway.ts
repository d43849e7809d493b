import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino, type Logger } from 'pino';

import { loadGatewayConfig, type GatewayConfig } from '../../src/node/config.js';
import { Gateway } from '../../src/node/gateway.js';
import { makeIdentity, type Identity } from './identity.js';

export interface TestGateway extends AsyncDisposable {
  readonly gateway: Gateway;
  readonly config: GatewayConfig;
  readonly identity: Identity;
  readonly dir: string;
}

export interface TestGatewayOptions {
  readonly partner?: string;
  /** An external NATS (e.g. from startNatsServer); default: the gateway's embedded nats-server. */
  readonly natsUrl?: string;
  /** More settings by configuration path, e.g. { 'grpc.tls.cert': … }; default is loopback plaintext. */
  readonly settings?: Record<string, unknown>;
  /** Reuse a directory (identity and data) across restarts; default: a fresh temp dir, removed on dispose. */
  readonly dir?: string;
  /** The gateway's logger; default: silent unless WBX_TEST_LOG names a level. */
  readonly log?: Logger;
  /**
   * Keys and manifest; default: new ones. Another gateway of the same partner on the same NATS must
   * reuse the first one's: they write one audit chain, whose signed genesis only that key verifies.
   */
  readonly identity?: Identity;
}

/** An in-process gateway on random loopback ports with its own keys and manifest; disposed after use. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const partner = options.partner ?? 'MK';
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'wbx-gw-')));
  const identity = options.identity ?? (await makeIdentity(dir, [partner]));
  const tls =
    options.settings !== undefined && Object.keys(options.settings).some((k) => k.startsWith('grpc.tls'));
  const config = await loadGatewayConfig(
    undefined,
    {},
    {
      partner,
      key: identity.keyFile(partner),
      manifest: identity.manifestFile,
      data: join(dir, 'data'),
      'nats.url': options.natsUrl,
      'nats.publishTimeout': 5_000,
      'grpc.listen': '127.0.0.1:0',
      'grpc.insecure': !tls,
      'http.listen': '127.0.0.1:0',
      ...options.settings,
    },
  );
  const gateway = await Gateway.start(config, {
    log: options.log ?? pino({ level: process.env.WBX_TEST_LOG ?? 'silent' }),
    drainMs: 2_000,
  });
  return {
    gateway,
    config,
    identity,
    dir,
    async [Symbol.asyncDispose]() {
      await gateway.stop();
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
