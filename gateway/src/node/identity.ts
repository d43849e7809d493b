import { readFile } from 'node:fs/promises';

import {
  importPrivateJwk,
  RegistryError,
  resolveSigningKey,
  verifyRootManifest,
  type ManifestBody,
  type SignedManifest,
} from '@wbx/registry';

import { ConfigError, type GatewayConfig } from './config.js';

/** A JSON file that a setting names; a ConfigError naming the setting when it cannot be read. */
async function readJson(path: string, what: string, setting: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(
      [{ path: setting, message: `cannot read the ${what} ${path}: ${(e as Error).message}` }],
      {
        cause: e,
      },
    );
  }
}

/** Loads the partner's key and the trusted manifest and checks that they belong together, now. */
export async function loadIdentity(config: GatewayConfig, now: Date): Promise<{ manifest: ManifestBody; sealerKid: string; key: ReturnType<typeof importPrivateJwk>['key'] }> {
  let manifest: ManifestBody;
  let imported: ReturnType<typeof importPrivateJwk>;
  try {
    manifest = verifyRootManifest((await readJson(config.manifest, 'manifest', 'manifest')) as SignedManifest);
    imported = importPrivateJwk(await readJson(config.key, 'key', 'key'));
  } catch (e) {
    if (e instanceof RegistryError) throw new ConfigError([{ path: 'manifest', message: `${e.code}: ${e.message}` }], { cause: e });
    throw e;
  }
  if (imported.memberId !== config.partner) {
    throw new ConfigError([{ path: 'key', message: `the key ${imported.kid} is not ${config.partner}'s` }]);
  }
  try {
    resolveSigningKey(manifest, config.partner, imported.kid, now);
  } catch (e) {
    if (e instanceof RegistryError) {
      throw new ConfigError([{ path: 'key', message: `${imported.kid} cannot sign now: ${e.code}` }], { cause: e });
    }
    throw e;
  }
  return { manifest, sealerKid: imported.kid, key: imported.key };
} // prettier-ignore
