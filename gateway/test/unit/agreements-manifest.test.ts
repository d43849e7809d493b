import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeManifest, removeMember } from '@wbx/registry';
import { until } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { AgreementsWatcher } from '../../src/agreements-watcher.js';
import type { ManifestListener, ManifestSnapshot, ManifestSource } from '../../src/manifest-watcher.js';
import { signingParties } from '../support/signed-agreements.js';

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
      const { manifest: v1, agreement } = await signingParties();
      const dir = join(root, 'agreements');
      await mkdir(dir);
      await writeFile(join(dir, 'MK-RS-1.json'), JSON.stringify(await agreement('MK-RS-1', 'RS')));
      await writeFile(join(dir, 'MK-AL-1.json'), JSON.stringify(await agreement('MK-AL-1', 'AL')));
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
