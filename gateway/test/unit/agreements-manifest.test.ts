import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { draftAgreement, signAgreement, type SignedAgreement } from '@wbx/agreements';
import { decodeManifest, foundFederation, importPrivateJwk, removeMember } from '@wbx/registry';
import { until } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { AgreementsWatcher } from '../../src/agreements-watcher.js';
import type { ManifestListener, ManifestSnapshot, ManifestSource } from '../../src/manifest-watcher.js';

const HOUR = 3_600_000;

/** A manifest source whose next version the test publishes. */
function manifestSource(
  first: ManifestSnapshot,
): ManifestSource & { publish(m: ManifestSnapshot): Promise<void> } {
  const listeners = new Set<ManifestListener>();
  let current = first;
  return {
    get current() {
      return current;
    },
    subscribe(listener) {
      listeners.add(listener);
      return { [Symbol.dispose]: () => listeners.delete(listener) };
    },
    async publish(m) {
      current = m;
      for (const l of listeners) await l(m);
    },
  };
}

describe('AgreementsWatcher following the manifest', () => {
  it('checks the agreements again against a newer manifest: one whose party left is no longer active', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wbx-agreements-manifest-'));
    try {
      const founded = await foundFederation(
        ['MK', 'RS', 'AL'].map((id) => ({ id })),
        1,
        new Date(Date.now() - HOUR),
      );
      const signers = new Map([...founded.keys].map(([id, k]) => [id, importPrivateJwk(k.privateJwk)]));
      const agreement = async (id: string, recipient: string): Promise<SignedAgreement> => {
        let signed = draftAgreement({
          id,
          provider: 'MK',
          recipient,
          purposes: ['risk-analysis'],
          legalBasis: 'test',
          validFrom: new Date(Date.now() - HOUR).toISOString(),
          validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
          terms: [
            { types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 30 },
          ],
        });
        for (const party of ['MK', recipient]) {
          const { key, kid } = signers.get(party)!;
          signed = await signAgreement(signed, key, kid, new Date());
        }
        return signed;
      };
      const dir = join(root, 'agreements');
      await mkdir(dir);
      await writeFile(join(dir, 'MK-RS-1.json'), JSON.stringify(await agreement('MK-RS-1', 'RS')));
      await writeFile(join(dir, 'MK-AL-1.json'), JSON.stringify(await agreement('MK-AL-1', 'AL')));
      const v1 = decodeManifest(founded.manifest);
      const manifests = manifestSource({ body: v1, json: '' });
      const watcher = new AgreementsWatcher(
        { partner: 'MK', agreements: dir, data: join(root, 'data'), share: { agreementsPoll: 100 } },
        manifests,
        pino({ level: 'silent' }),
      );
      const ids = (): string => watcher.current.agreements.map((a) => a.body.id).join();
      await watcher.load();
      expect(ids()).toBe('MK-AL-1,MK-RS-1');
      watcher.start();
      try {
        const v2 = decodeManifest(removeMember(v1, 'RS', new Date()));
        await manifests.publish({ body: v2, json: '' });
        await until('MK-RS-1 checked again', () => ids() === 'MK-AL-1', 20_000);
        expect(watcher.current.inactive.map((a) => a.body.id)).toEqual(['MK-RS-1']);
      } finally {
        await watcher.stop();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
