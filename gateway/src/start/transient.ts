import { setTimeout as sleep } from 'node:timers/promises';

import { JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import type { Logger } from 'pino';

import { NotSettledError } from '../streams.js';

/**
 * JetStream API error codes that mend by waiting (nats-server's errors.json): a cluster electing a leader
 * or missing a node, and the create races of replicas starting together (the other one created the
 * stream or consumer first: read again, it converges).
 */
const TRANSIENT_API_CODES: ReadonlySet<number> = new Set([
  10_004, // JSClusterIncompleteErr: incomplete results (a peer did not answer)
  10_005, // JSClusterNoPeersErr: no suitable peers for placement (a node down or not known yet)
  10_007, // JSClusterNotAssignedErr: JetStream cluster not assigned to this server
  10_008, // JSClusterNotAvailErr: JetStream system temporarily unavailable
  10_009, // JSClusterNotLeaderErr: JetStream cluster can not handle request (leader election)
  10_013, // JSConsumerNameExistErr: consumer name already in use (created concurrently)
  10_058, // JSStreamNameExistErr: stream name already in use with a different configuration (ditto)
  10_118, // JSStreamOfflineErr
  10_119, // JSConsumerOfflineErr
  10_148, // JSConsumerAlreadyExists (created concurrently)
]);

/**
 * Whether a failed NATS request at start mends by waiting: a request that timed out or found no
 * responders (JetStream without a meta leader answers nothing: nats.js says "jetstream is not enabled",
 * with the no-responders error as its cause), a JetStream API error the cluster gives while a node is down
 * or a leader is elected, a create race with another replica, or replicas that did not settle. Anything
 * else (a configuration the server refuses, JetStream off for the account, a permission) fails the start.
 * Classified by error class and JetStream code, never by message; the causes are looked at too.
 */
export function isTransientNatsError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof TimeoutError || e instanceof NoRespondersError || e instanceof NotSettledError) {
      return true;
    }
    if (e instanceof RequestError && e.isNoResponders()) return true;
    if (e instanceof JetStreamApiError) return TRANSIENT_API_CODES.has(e.code);
  }
  return false;
}

/** How a start step reports that it waits: a line for /readyz while it does, undefined once it is done. */
export interface StartWaiting {
  readonly log: Logger;
  /** Called with a reason while a step waits, with undefined when it succeeded. */
  readonly report: (reason: string | undefined) => void;
}

/** A failed step is retried after 250 ms, then twice as long each time, at most this long. */
const RETRY_MAX_MS = 5_000;
/** While a step waits, a warning is logged at most this often. */
const LOG_EVERY_MS = 5_000;

/**
 * Runs a start step, retrying it with back-off (250 ms, doubling, at most 5 s) for as long as it fails
 * with a transient NATS error ({@link isTransientNatsError}), as the first connection is: /readyz says
 * what it waits for, a warning is logged now and then, and it is ready when the step succeeds. Any other
 * error is thrown at once. The step must undo what it started before it rejects.
 */
export async function retryTransient<T>(
  step: string,
  run: () => Promise<T>,
  waiting: StartWaiting,
): Promise<T> {
  let logged = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await run();
      if (attempt > 1) {
        waiting.log.info({ step, attempts: attempt }, `${step}: NATS answered; started`);
        waiting.report(undefined);
      }
      return result;
    } catch (e) {
      if (!isTransientNatsError(e)) throw e;
      const retryMs = Math.min(RETRY_MAX_MS, 250 * 2 ** Math.min(attempt - 1, 5));
      const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      waiting.report(`${step}: waiting for NATS (${err})`);
      if (Date.now() - logged >= LOG_EVERY_MS) {
        logged = Date.now();
        waiting.log.warn({ step, attempt, retryMs, err }, `${step}: NATS not ready; not ready, retrying`);
      }
      await sleep(retryMs);
    }
  }
}
