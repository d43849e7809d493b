import { createServer, type Server } from 'node:net';

/** Ports free on 127.0.0.1 now: each bound to port 0 (all at once, so they differ) and closed again. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/**
 * Whether a start failed because a port was taken (EADDRINUSE). A free port picked in advance can be taken
 * between picking and listening: by another process, or by a server's own random client port. The
 * nats-server launcher reports it only in the server's output, which its error message carries.
 */
export function isAddressInUse(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
    if (e.message.includes('address already in use')) return true;
  }
  return false;
}

/** How many times {@link withFreePorts} picks new ports after a start found one taken; default. */
const PORT_ATTEMPTS = 5;

/**
 * Runs `start` with `count` ports free now; when it fails because one of them was taken meanwhile
 * ({@link isAddressInUse}), it runs again with new ones, up to `attempts` times. `start` must clean up
 * what it started before it rejects.
 */
export async function withFreePorts<T>(
  count: number,
  start: (ports: number[]) => Promise<T>,
  pick: (count: number) => Promise<number[]> = freePorts,
  attempts = PORT_ATTEMPTS,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await pick(count);
    try {
      return await start(ports);
    } catch (e) {
      if (attempt >= attempts || !isAddressInUse(e)) throw e;
    }
  }
}
