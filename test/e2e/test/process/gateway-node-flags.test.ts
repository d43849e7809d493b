import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { GATEWAY_NODE_FLAGS, wbxBinary } from '@wbx/cli';
import { makeIdentity, startGatewayProcess, type GatewayProcess, type Identity } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let identity: Identity;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-gw-flags-'));
  identity = await makeIdentity(dir, ['MK']);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A ready `wbx gateway` (embedded NATS) with `env`; its Node command line, as /proc shows it. */
async function gatewayCommandLine(data: string, env: Record<string, string>): Promise<string[]> {
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess(
      wbxBinary(),
      [
        ...['--partner', 'MK', '--key', identity.keyFile('MK'), '--manifest', identity.manifestFile],
        ...['--data', join(dir, data), '--insecure', '--grpc-listen', '127.0.0.1:0'],
        ...['--http-listen', '127.0.0.1:0'],
      ],
      { env: { WBX_LOG_LEVEL: 'warn', ...env }, group: true, timeoutMs: 60_000 },
    );
    return readFileSync(`/proc/${String(gateway.process.pid)}/cmdline`, 'utf8').split('\0');
  } finally {
    await gateway?.stop();
  }
}

describe.runIf(process.platform === 'linux')('wbx gateway: Node flags', () => {
  it("runs, as the process it was started as, with the gateway's heap sizes", async () => {
    const argv = await gatewayCommandLine('default', { NODE_OPTIONS: '' });
    for (const flag of GATEWAY_NODE_FLAGS) expect(argv).toContain(flag);
    expect(argv).toContain('gateway');
  });

  it('keeps a heap size given in NODE_OPTIONS', async () => {
    const argv = await gatewayCommandLine('own', { NODE_OPTIONS: '--max-semi-space-size=0' });
    expect(argv.some((a) => a.startsWith('--max-semi-space-size'))).toBe(false);
    expect(argv).toContain('--max-old-space-size=1024');
    expect(argv).toContain('gateway');
  });
});
