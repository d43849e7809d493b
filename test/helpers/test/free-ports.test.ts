import { createServer, type Server } from 'node:net';

import { describe, expect, it } from 'vitest';

import { freePorts, isAddressInUse, withFreePorts } from '../src/internal/free-ports.js';
import { startNatsServer } from '../src/index.js';

const listening = (): Promise<Server> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  });

const portOf = (s: Server): number => {
  const address = s.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
};

describe('withFreePorts', () => {
  it('starts again on new ports when a nats-server finds a picked port taken', async () => {
    const busy = await listening();
    try {
      const picked: number[][] = [];
      const pick = async (count: number): Promise<number[]> => {
        const ports = picked.length === 0 ? [portOf(busy)] : await freePorts(count);
        picked.push(ports);
        return ports;
      };
      const failures: unknown[] = [];
      await using server = await withFreePorts(
        1,
        (ports) =>
          startNatsServer({ config: `http: "127.0.0.1:${ports[0] ?? 0}"` }).catch((e: unknown) => {
            failures.push(e);
            throw e;
          }),
        pick,
      );
      expect(server.running).toBe(true);
      expect(picked).toHaveLength(2);
      expect(failures).toHaveLength(1);
      expect(isAddressInUse(failures[0])).toBe(true);
    } finally {
      busy.close();
    }
  });

  it('does not retry a failure that is not a port in use', async () => {
    let starts = 0;
    const failure = await withFreePorts(2, () => {
      starts++;
      return Promise.reject(new Error('bad config'));
    }).catch((e: unknown) => e);
    expect(isAddressInUse(failure)).toBe(false);
    expect(starts).toBe(1);
  });
});
