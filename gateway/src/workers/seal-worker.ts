import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

import { createSealer } from '@wbx/seal';

import type { SealJob, SealResult } from './seal-pool.js';
import type { BatchJob } from './worker-pool.js';

const { issuer, kid, privateKey } = workerData as { issuer: string; kid: string; privateKey: KeyObject };
const sealer = createSealer({ issuer, kid, privateKey });

parentPort?.on('message', (job: BatchJob<SealJob>) => {
  const results = job.items.map(({ event, nowMs }): SealResult => {
    try {
      return { token: sealer.seal(event, { now: new Date(nowMs) }) };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  });
  parentPort?.postMessage({ id: job.id, results });
});
