import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, Metadata } from '@grpc/grpc-js';
import { type Event, IngestClient } from '@wbx/proto';

export { submitAll } from '@wbx/fixtures';

/**
 * Submits every event with `window` calls in flight, retrying a failed call with the same eventId (each
 * call given 15 s) until `deadline` (epoch ms): for faults, where the gateway or its NATS goes away.
 * `onStored` counts each event accepted; the result says how many calls were retried.
 */
export async function submitRetrying(
  address: string,
  events: readonly Event[],
  window: number,
  deadline: number,
  onStored?: () => void,
): Promise<{ retries: number }> {
  const client = new IngestClient(address, credentials.createInsecure());
  const submit = (e: Event): Promise<void> =>
    new Promise((resolve, reject) => {
      client.submit(e, new Metadata(), { deadline: Date.now() + 15_000 }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  let next = 0;
  let retries = 0;
  try {
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < events.length) {
          const e = events[next++]!;
          for (;;) {
            try {
              await submit(e);
              onStored?.();
              break;
            } catch (err) {
              if (Date.now() > deadline) throw err;
              retries += 1;
              await sleep(200);
            }
          }
        }
      }),
    );
  } finally {
    client.close();
  }
  return { retries };
}
