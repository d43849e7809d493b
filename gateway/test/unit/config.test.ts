import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, envName, loadGatewayConfig } from '../../src/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;
/** The settings every configuration needs; plaintext on loopback so that no certificate is required. */
const required = { partner: 'MK', key: '/keys/MK.private.jwk', manifest: '/etc/wbx/manifest.json' };
const plaintext = { ...required, 'grpc.insecure': true };

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** The ConfigError that loading throws; fails the test when loading succeeds. */
async function configError(
  f: string | undefined,
  env: NodeJS.ProcessEnv,
  flags: Record<string, unknown>,
): Promise<ConfigError> {
  try {
    await loadGatewayConfig(f, env, flags);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('the configuration was accepted; expected a ConfigError');
}

const YAML_CONFIG = `
partner: MK
key: /keys/MK.private.jwk
manifest: /etc/wbx/manifest.json
data: /var/lib/wbx
nats:
  url: nats://nats.mk.internal:4222
  publishTimeout: 5s
grpc:
  listen: 0.0.0.0:7443
  tls:
    cert: /tls/server.pem
    key: /tls/server.key
    clientCa: /tls/ca.pem
http:
  listen: 127.0.0.1:9464
streams:
  maxAge: 365d
  maxBytes: 10GB
  duplicateWindow: 2h
  replicas: 3
log:
  level: warn
`;

describe('loadGatewayConfig', () => {
  it('reads a YAML file, converting durations and sizes', async () => {
    const config = await loadGatewayConfig(await file('gateway.yaml', YAML_CONFIG), {}, {});
    expect(config).toMatchObject({
      partner: 'MK',
      key: '/keys/MK.private.jwk',
      manifest: '/etc/wbx/manifest.json',
      data: '/var/lib/wbx',
      nats: { url: 'nats://nats.mk.internal:4222', binary: 'nats-server', publishTimeout: 5_000 },
      grpc: { listen: '0.0.0.0:7443', insecure: false },
      http: { listen: '127.0.0.1:9464' },
      streams: { maxAge: 365 * DAY, maxBytes: 10 * 2 ** 30, duplicateWindow: 2 * 3_600_000, replicas: 3 },
      log: { level: 'warn' },
    });
    expect(config.grpc.tls).toEqual({
      cert: '/tls/server.pem',
      key: '/tls/server.key',
      clientCa: '/tls/ca.pem',
    });
  });

  it('reads a JSON file and fills in the defaults', async () => {
    const path = await file(
      'gateway.json',
      JSON.stringify({ ...required, grpc: { insecure: true }, nats: { publishTimeout: 2500 } }),
    );
    const config = await loadGatewayConfig(path, {}, {});
    expect(config).toMatchObject({
      partner: 'MK',
      data: './wbx-data',
      nats: { binary: 'nats-server', publishTimeout: 2_500 },
      grpc: { listen: '127.0.0.1:7443', insecure: true },
      http: { listen: '127.0.0.1:9464' },
      streams: { maxAge: 0, maxBytes: -1, duplicateWindow: DAY, replicas: 1 },
      log: { level: 'info' },
    });
    expect(config.nats.url).toBeUndefined();
    expect(config.grpc.tls).toBeUndefined();
  });

  it('lets WBX_… environment variables override the file', async () => {
    const path = await file('env.yaml', YAML_CONFIG);
    const env = {
      WBX_GRPC_LISTEN: '10.0.0.5:8443',
      WBX_NATS_PUBLISH_TIMEOUT: '1500',
      WBX_STREAMS_MAX_AGE: '30d',
      WBX_GRPC_TLS_CLIENT_CA: '/tls/other-ca.pem',
      WBX_LOG_LEVEL: '',
    };
    const config = await loadGatewayConfig(path, env, {});
    expect(config.grpc.listen).toBe('10.0.0.5:8443');
    expect(config.nats.publishTimeout).toBe(1_500);
    expect(config.streams.maxAge).toBe(30 * DAY);
    expect(config.grpc.tls?.clientCa).toBe('/tls/other-ca.pem');
    // An empty variable is no setting: the file's value stands.
    expect(config.log.level).toBe('warn');
  });

  it('lets flags override the environment and the file', async () => {
    const path = await file('flags.yaml', YAML_CONFIG);
    const env = { WBX_GRPC_LISTEN: '10.0.0.5:8443', WBX_NATS_PUBLISH_TIMEOUT: '1500' };
    const config = await loadGatewayConfig(path, env, {
      'grpc.listen': '127.0.0.1:0',
      'nats.publishTimeout': '250ms',
      'streams.maxAge': undefined,
    });
    expect(config.grpc.listen).toBe('127.0.0.1:0');
    expect(config.nats.publishTimeout).toBe(250);
    // An undefined flag (not given on the command line) leaves the setting alone.
    expect(config.streams.maxAge).toBe(365 * DAY);
  });

  it('names each setting by its environment variable', () => {
    expect(envName('grpc.listen')).toBe('WBX_GRPC_LISTEN');
    expect(envName('nats.publishTimeout')).toBe('WBX_NATS_PUBLISH_TIMEOUT');
    expect(envName('grpc.tls.clientCa')).toBe('WBX_GRPC_TLS_CLIENT_CA');
    expect(envName('streams.maxAge')).toBe('WBX_STREAMS_MAX_AGE');
  });

  it('refuses an unknown setting, naming it and where it is', async () => {
    const nested = await configError(undefined, {}, { ...plaintext, 'grpc.listne': '127.0.0.1:1' });
    expect(nested.issues).toEqual([
      { path: 'grpc.listne', message: expect.stringContaining('listne') as string },
    ]);
    expect(nested.message).toContain('grpc');
    expect(nested.message).toContain('listne');
    const top = await configError(await file('typo.yaml', 'partnr: MK\n'), {}, plaintext);
    expect(top.issues).toEqual([{ path: 'partnr', message: expect.stringContaining('partnr') as string }]);
  });

  it('names an unknown setting by its full path (grpc.listne)', async () => {
    const e = await configError(undefined, {}, { ...plaintext, 'grpc.listne': '127.0.0.1:1' });
    expect(e.issues.map((i) => i.path)).toEqual(['grpc.listne']);
  });

  it.each([
    ['nats.publishTimeout', '10 seconds'],
    ['nats.publishTimeout', -5],
    ['streams.maxAge', '30days'],
    ['streams.duplicateWindow', '1.5h'],
    ['streams.maxBytes', '10 GB'],
    ['streams.maxBytes', '1PB'],
    ['grpc.listen', 'localhost'],
    ['grpc.listen', '127.0.0.1:70000'],
    ['http.listen', 'http://127.0.0.1:9464'],
    ['streams.replicas', 7],
    ['log.level', 'verbose'],
    ['partner', 'ZZ'],
    ['nats.url', 'http://nats:4222'],
    ['nats.url', 'nats://n1:4222,http://n2:4222'],
    ['nats.url', 'nats://n1:4222,'],
  ])('refuses %s = %j with an issue at that path', async (path, value) => {
    const e = await configError(undefined, {}, { ...plaintext, [path]: value });
    expect(e.issues.map((i) => i.path)).toContain(path);
    expect(e.message).toContain(path);
  });

  it("takes a cluster's nodes in nats.url, comma-separated", async () => {
    const url = 'nats://n1:4222,tls://n2:4222,nats://n3:4222';
    const config = await loadGatewayConfig(undefined, {}, { ...plaintext, 'nats.url': url });
    expect(config.nats.url).toBe(url);
  });

  it('says what a duration or a size must look like', async () => {
    const d = await configError(undefined, {}, { ...plaintext, 'nats.publishTimeout': '10 seconds' });
    expect(d.message).toContain('must be a duration');
    const s = await configError(undefined, {}, { ...plaintext, 'streams.maxBytes': '10 GB' });
    expect(s.message).toContain('must be a size');
  });

  it('refuses a setting missing from file, environment and flags', async () => {
    const e = await configError(undefined, {}, { partner: 'MK', 'grpc.insecure': true });
    expect(e.issues.map((i) => i.path).sort()).toEqual(['key', 'manifest']);
  });

  it('refuses plaintext gRPC on a non-loopback address, naming grpc.insecure', async () => {
    for (const listen of ['0.0.0.0:7443', '10.1.2.3:7443', '[::]:7443', 'gateway.mk.internal:7443']) {
      const e = await configError(undefined, {}, { ...plaintext, 'grpc.listen': listen });
      expect(e.issues).toEqual([
        { path: 'grpc.insecure', message: expect.stringContaining('loopback') as string },
      ]);
    }
    for (const listen of ['127.0.0.1:0', '127.8.9.10:7443', 'localhost:7443', '[::1]:7443']) {
      await expect(
        loadGatewayConfig(undefined, {}, { ...plaintext, 'grpc.listen': listen }),
      ).resolves.toBeDefined();
    }
  });

  it('refuses gRPC with neither TLS nor insecure, naming grpc.tls', async () => {
    const e = await configError(undefined, {}, required);
    expect(e.issues).toEqual([{ path: 'grpc.tls', message: expect.any(String) as string }]);
    const withEnvTls = await loadGatewayConfig(
      undefined,
      { WBX_GRPC_TLS_CERT: '/tls/c.pem', WBX_GRPC_TLS_KEY: '/tls/k.pem' },
      required,
    );
    expect(withEnvTls.grpc.tls).toEqual({ cert: '/tls/c.pem', key: '/tls/k.pem' });
  });

  it('reports a file it cannot read or parse as a ConfigError', async () => {
    const missing = await configError(join(dir, 'absent.yaml'), {}, plaintext);
    expect(missing.message).toContain('absent.yaml');
    const broken = await configError(await file('broken.json', '{"partner": "MK",'), {}, plaintext);
    expect(broken.message).toContain('broken.json');
    const list = await configError(await file('list.yaml', '- partner: MK\n'), {}, plaintext);
    expect(list.message).toContain('mapping');
  });
});
