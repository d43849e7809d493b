// The ingest benchmark's moving parts: a nats-server, MK's key and manifest with a gateway configuration
// file, and child processes that announce when they are ready.
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { foundFederation, writeFederation } from '@wbx/registry';
import { generateEvents } from '@wbx/synth';
import { spawnNode, startGatewayProcess, startNatsServer } from '@wbx/test-helpers';

import { wbxBin } from './_common.ts';

/** Generated MK events (proto3 canonical JSON objects), deterministic for a seed. */
export function events(count: number, seed: string): Record<string, unknown>[] {
  const from = new Date('2023-01-01T00:00:00Z');
  const to = new Date('2024-01-01T00:00:00Z');
  return [...generateEvents({ partner: 'MK', count, seed: `bench-ingest-${seed}`, from, to })].map(
    (e) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>,
  );
}

/** A process the benchmark started and measures (CPU, memory by pid). */
export interface Running {
  readonly pid: number;
  stop(): Promise<void>;
}

/** A nats-server with JetStream on a random loopback port, its store under `dir`; ready to accept clients. */
export async function startNats(dir: string): Promise<Running & { url: string }> {
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
): Promise<{ configFile: string; kid: string; key: KeyObject }> {
  const founded = await foundFederation(
    [{ id: 'MK', name: 'North Macedonia', roles: ['origin'] }],
    1,
    new Date(Date.now() - 3_600_000),
  );
  const federation = await writeFederation(dir, founded);
  const configFile = join(dir, 'gateway.json');
  const config = {
    partner: 'MK',
    key: federation.keyFile('MK'),
    manifest: federation.manifestFile,
    data: join(dir, 'data'),
    nats: { url: natsUrl },
    grpc: { listen: '127.0.0.1:0', insecure: true },
    http: { listen: '127.0.0.1:0' },
    log: { level: 'warn' },
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  return { configFile, ...federation.key('MK') };
}

/**
 * `node <args>` as a child process that announces it is ready by printing its first line on stdout;
 * resolves with that line. One that exits first, or prints nothing for 20 s, is an error.
 */
export async function startNodeChild(args: readonly string[]): Promise<Running & { readyLine: string }> {
  const child = spawnNode(args);
  try {
    const readyLine = await child.line();
    return { pid: child.process.pid ?? 0, readyLine, stop: () => child.stop() };
  } catch (e) {
    await child.stop();
    throw e;
  }
}

/** `wbx gateway --config <file>` as a child process (so that its CPU and memory are its own), ready. */
export async function startGatewayChild(
  configFile: string,
  /** How long `stop()` waits after SIGTERM before SIGKILL. */
  killAfterMs = 10_000,
): Promise<Running & { grpc: string; nats: string; http: string }> {
  const gateway = await startGatewayProcess(wbxBin, ['--config', configFile]);
  const { grpc, nats, http } = gateway.ready;
  return { pid: gateway.process.pid ?? 0, grpc, nats, http, stop: () => gateway.stop(killAfterMs) };
}

/** A process's current and peak resident set size (VmRSS, VmHWM), in MiB. */
export function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}
