import { parentPort, workerData } from 'node:worker_threads';

import type { ManifestBody } from '@wbx/registry';
import { tryVerifyPresentation } from '@wbx/seal';

import type { PoolResult } from './verify-pool.js';
import type { BatchJob } from './worker-pool.js';

const { manifest, claims: keep } = workerData as { manifest: ManifestBody; claims?: readonly string[] };

/** Only the claims the pool's user asked for cross back to it. */
function trimmed(r: PoolResult): PoolResult {
  if (!r.ok || keep === undefined) return r;
  const claims: Record<string, unknown> = {};
  for (const k of keep) if (k in r.claims) claims[k] = r.claims[k];
  return { ...r, claims };
}

parentPort?.on('message', (job: BatchJob<string, number>) => {
  const now = new Date(job.context);
  const results = job.items.map((token): PoolResult => {
    try {
      return trimmed(tryVerifyPresentation(token, { manifest, now }));
    } catch (e) {
      return { ok: false, code: 'INTERNAL', detail: e instanceof Error ? e.message : String(e) };
    }
  });
  parentPort?.postMessage({ id: job.id, results });
});
