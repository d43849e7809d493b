import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

import { partnerPolicy, type PartnerPolicy } from '@wbx/agreements';

import { Pseudonyms } from '../exchange/pseudonyms.js';
import { deriveShares } from '../share-derive.js';
import type { StreamRefs } from '../stream-refs.js';
import type { DeriveContext, DeriveJob, DeriveResult } from './share-derive-pool.js';
import type { BatchJob } from './worker-pool.js';

const { partner, secretFile, kid, privateKey } = workerData as {
  partner: string;
  secretFile: string;
  kid: string;
  privateKey: KeyObject;
};
const refs: StreamRefs = { pseudonyms: await Pseudonyms.open(secretFile), signer: { kid, privateKey } };

const UTF8 = new TextDecoder();

/** The policy of the last snapshot seen (the agreements come with every batch; rebuilt when they change). */
let policy: { readonly snapshot: number; readonly policy: PartnerPolicy } | undefined;

parentPort?.on('message', (job: BatchJob<DeriveJob, DeriveContext>) => {
  const { snapshot, agreements } = job.context;
  if (policy?.snapshot !== snapshot) policy = { snapshot, policy: partnerPolicy(partner, agreements) };
  const current = policy.policy;
  const results = job.items.map(({ token, nowMs }): DeriveResult => {
    try {
      return { event: deriveShares(UTF8.decode(token), partner, current, refs, new Date(nowMs)) };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  });
  // The presentations' bytes move to the main thread (transferred, not copied), ready to publish.
  const transfer: ArrayBuffer[] = [];
  for (const r of results) {
    if (!('event' in r)) continue;
    for (const g of r.event.grants)
      if (g.presentation !== undefined) transfer.push(g.presentation.buffer as ArrayBuffer);
  }
  parentPort?.postMessage({ id: job.id, results }, transfer);
});
