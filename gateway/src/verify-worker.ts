import { parentPort, workerData } from 'node:worker_threads';

import type { ManifestBody } from '@wbx/registry';
import { tryVerifyPresentation } from '@wbx/seal';

import type { PoolResult } from './verify-pool.js';
import type { BatchJob } from './worker-pool.js';

const { manifest } = workerData as { manifest: ManifestBody };

parentPort?.on('message', (job: BatchJob<string>) => {
  const now = new Date(job.nowMs);
  const results = job.items.map((token): PoolResult => {
    try {
      return tryVerifyPresentation(token, { manifest, now });
    } catch (e) {
      return { ok: false, code: 'INTERNAL', detail: e instanceof Error ? e.message : String(e) };
    }
  });
  parentPort?.postMessage({ id: job.id, results });
});
