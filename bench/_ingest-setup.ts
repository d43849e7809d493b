// The ingest benchmark's moving parts: a nats-server, MK's key and manifest with a gateway configuration
// file, and `wbx gateway` as a child process (so that its memory is its own).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { createManifest, generateSigningKey, importPrivateJwk, signManifest } from '@wbx/registry';
import { generateEvents } from '@wbx/synth';
import { startNatsServer } from '@wbx/test-helpers';

import { wbxBin } from './_common.ts';

/** Generated MK events (proto3 canonical JSON objects), deterministic for a seed. */
export function events(count: number, seed: string): Record<string, unknown>[] {
  const from = new Date('2023-01-01T00:00:00Z');
  const to = new Date('2024-01-01T00:00:00Z');
  return [...generateEvents({ partner: 'MK', count, seed: `bench-ingest-${seed}`, from, to })].map(
    (e) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>,
  );
}

export interface Child {
  readonly pid: number;
  stop(): Promise<void>;
}

function childHandle(child: ChildProcess, killAfterMs = 10_000): Child {
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exit;
      clearTimeout(hard);
    },
  };
}

/** A nats-server with JetStream on a random loopback port, its store under `dir`; ready to accept clients. */
export async function startNats(dir: string): Promise<Child & { url: string }> {
  const server = await startNatsServer({ storeDir: join(dir, 'nats') });
  return {
    pid: server.pid,
    url: server.url,
    async stop() {
      await server[Symbol.asyncDispose]();
    },
  };
}

/** MK's signing key, a manifest trusting it, and a gateway configuration file using `natsUrl`. */
export async function writeGatewayFiles(
  dir: string,
  natsUrl: string,
): Promise<{ configFile: string; kid: string; key: ReturnType<typeof importPrivateJwk>['key'] }> {
  await mkdir(dir, { recursive: true });
  const now = new Date(Date.now() - 3_600_000);
  const key = generateSigningKey('MK', now);
  const member = {
    id: 'MK',
    name: 'North Macedonia',
    roles: ['origin' as const],
    tlsCertSha256: [],
    signingKeys: [
      {
        kid: key.kid,
        jwk: { kty: 'OKP' as const, crv: 'Ed25519' as const, x: key.publicJwk.x },
        notBefore: now.toISOString(),
      },
    ],
  };
  const manifest = await signManifest(
    createManifest({ version: 1, threshold: 1, issuedAt: now.toISOString(), members: [member] }),
    key.privateJwk,
    key.kid,
  );
  const files = { key: join(dir, 'MK.private.jwk'), manifest: join(dir, 'manifest.json') };
  await writeFile(files.key, JSON.stringify(key.privateJwk), { mode: 0o600 });
  await writeFile(files.manifest, JSON.stringify(manifest));
  const configFile = join(dir, 'gateway.json');
  const config = {
    partner: 'MK',
    ...files,
    data: join(dir, 'data'),
    nats: { url: natsUrl },
    grpc: { listen: '127.0.0.1:0', insecure: true },
    http: { listen: '127.0.0.1:0' },
    log: { level: 'warn' },
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  return { configFile, kid: key.kid, key: importPrivateJwk(key.privateJwk).key };
}

/**
 * `node <args>` as a child process (stderr passed through) that announces it is ready by printing its
 * first line on stdout; resolves with that line. A child that exits first is an error.
 */
export async function startNodeChild(
  args: readonly string[],
  what: string,
  /** How long `stop()` waits after SIGTERM before SIGKILL. */
  killAfterMs = 10_000,
): Promise<Child & { readyLine: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const handle = childHandle(child, killAfterMs);
  try {
    const readyLine = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${what} exited (${String(code)}) before it was ready`)));
      createInterface({ input: child.stdout }).once('line', resolve);
    });
    return { ...handle, readyLine };
  } catch (e) {
    await handle.stop();
    throw e;
  }
}

/** `wbx gateway --config <file>` as a child process; resolves with its ready line. */
export async function startGatewayProcess(
  configFile: string,
): Promise<Child & { grpc: string; http: string }> {
  const { readyLine, ...handle } = await startNodeChild(
    [wbxBin, 'gateway', '--config', configFile],
    'wbx gateway',
  );
  const ready = JSON.parse(readyLine) as { grpc?: string; http?: string };
  if (ready.grpc === undefined || ready.http === undefined) {
    await handle.stop();
    throw new Error('wbx gateway printed no gRPC or HTTP address');
  }
  return { ...handle, grpc: ready.grpc, http: ready.http };
}

/** A process's current and peak resident set size (VmRSS, VmHWM), in MiB. */
export function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}
