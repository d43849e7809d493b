import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { revokeAgreement } from '@wbx/agreements';
import { until } from '@wbx/test-helpers';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { AgreementsWatcher, type AgreementsWatcherConfig } from '../../src/agreements-watcher.js';
import { signingParties } from '../support/signed-agreements.js';

/**
 * A directory as kubelet's atomic writer keeps a mounted ConfigMap: the files in a timestamped directory,
 * `..data` pointing at it, and one `name -> ..data/name` link per key. `update` does what kubelet does on a
 * change: a new timestamped directory, `..data_tmp` renamed over `..data` (the one atomic step), links for
 * new keys, removed links for keys gone, the old directory removed.
 */
async function configMapDir(dir: string, files: Record<string, string>) {
  let generation = 0;
  let current = '';
  const write = async (content: Record<string, string>): Promise<void> => {
    const ts = `..2026_12_04_23_00_0${++generation}.000000000`;
    await mkdir(join(dir, ts));
    for (const [name, text] of Object.entries(content)) await writeFile(join(dir, ts, name), text);
    await symlink(ts, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    const old = current;
    current = ts;
    return old === '' ? undefined : rm(join(dir, old), { recursive: true, force: true });
  };
  await mkdir(dir, { recursive: true });
  await write(files);
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name));
  let names = new Set(Object.keys(files));
  return {
    async update(content: Record<string, string>): Promise<void> {
      await write(content);
      for (const name of Object.keys(content)) {
        if (!names.has(name)) await symlink(join('..data', name), join(dir, name));
      }
      for (const name of names) if (!(name in content)) await unlink(join(dir, name));
      names = new Set(Object.keys(content));
    },
  };
}

describe('AgreementsWatcher on a mounted ConfigMap', () => {
  it('applies a kubelet update (the ..data swap) while running: a new agreement and a revocation', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wbx-configmap-'));
    try {
      const { manifest, signer, agreement } = await signingParties();
      const mkRs = await agreement('MK-RS-1', 'RS');
      const dir = join(root, 'agreements');
      const mount = await configMapDir(dir, { 'MK-RS-1.json': JSON.stringify(mkRs) });
      const config: AgreementsWatcherConfig = {
        partner: 'MK',
        agreements: dir,
        data: join(root, 'data'),
        share: { agreementsPoll: 100 },
      };
      const watcher = new AgreementsWatcher(config, manifest, pino({ level: 'silent' }));
      const ids = (): string[] => watcher.current.agreements.map((a) => a.body.id);
      await watcher.load();
      expect(ids()).toEqual(['MK-RS-1']);
      watcher.start();
      try {
        const { key, kid } = signer('MK');
        const revoked = await revokeAgreement(mkRs, key, kid, { at: new Date() });
        await mount.update({
          'MK-RS-1.json': JSON.stringify(revoked),
          'MK-AL-1.json': JSON.stringify(await agreement('MK-AL-1', 'AL')),
        });
        await until('the swapped ConfigMap applied', () => ids().join() === 'MK-AL-1', 20_000);
        expect(watcher.current.inactive.map((a) => [a.body.id, a.reasons])).toEqual([
          ['MK-RS-1', ['REVOKED:MK']],
        ]);
        // A key removed from the ConfigMap: its link goes, and so does the agreement.
        await mount.update({ 'MK-RS-1.json': JSON.stringify(revoked) });
        await until('the removed agreement gone', () => ids().length === 0, 20_000);
        expect(watcher.current.problem).toBeUndefined();
      } finally {
        await watcher.stop();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
