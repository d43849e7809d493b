import { parentPort, workerData } from 'node:worker_threads';

import type { ManifestBody } from '@wbx/registry';
import { SealError, verifyPresentation } from '@wbx/seal';

import type { PoolResult } from './verify-pool.js';

const { manifest } = workerData as { manifest: ManifestBody };

parentPort?.on('message', (job: { id: number; tokens: string[]; nowMs: number }) => {
  const now = new Date(job.nowMs);
  const results = job.tokens.map((token): PoolResult => {
    try {
      const v = verifyPresentation(token, { manifest, now });
      return { ok: true, claims: v.claims, disclosed: v.disclosed };
    } catch (e) {
      if (e instanceof SealError)
        return { ok: false, code: e.code, ...(e.detail === undefined ? {} : { detail: e.detail }) };
      return { ok: false, code: 'INTERNAL', detail: e instanceof Error ? e.message : String(e) };
    }
  });
  parentPort?.postMessage({ id: job.id, results });
});
