import { readdir, readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 20;

/**
 * Reads the client port from the ports file nats-server writes into `dir` (`<exe>_<pid>.ports`, JSON
 * `{"nats":["nats://127.0.0.1:PORT"]}`); undefined while it does not exist yet or is half-written.
 */
export async function readPortsFile(dir: string, pid: number): Promise<number | undefined> {
  const name = (await readdir(dir)).find((file) => file.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  try {
    const parsed = JSON.parse(await readFile(join(dir, name), 'utf8')) as { nats?: unknown };
    const first = Array.isArray(parsed.nats) ? (parsed.nats[0] as unknown) : undefined;
    if (typeof first !== 'string') return undefined;
    const port = Number(new URL(first).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpAccepts(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/**
 * Polls `probe` until it returns a value, `aborted()` returns true, or `deadline` (epoch ms) passes;
 * undefined unless the probe succeeded.
 */
export async function poll<T>(
  probe: () => Promise<T | undefined>,
  deadline: number,
  aborted: () => boolean,
): Promise<T | undefined> {
  while (!aborted() && Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(POLL_MS);
  }
  return undefined;
}
