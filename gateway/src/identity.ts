import { readFile } from 'node:fs/promises';

import {
  importPrivateJwk,
  RegistryError,
  resolveSigningKey,
  type ManifestBody,
  type SignedManifest,
} from '@wbx/registry';
import type { Logger } from 'pino';

import { ConfigError, type GatewayConfig } from './config.js';
import { trustManifest } from './trusted-manifest.js';

/**
 * A JSON file that a setting names; a ConfigError naming the setting when it cannot be read. The file's
 * contents never reach the message (a JSON parse error quotes the text, and the key file holds a secret).
 */
async function readJson(
  path: string,
  what: string,
  setting: string,
): Promise<{ json: unknown; text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ path: setting, message: `cannot read the ${what} ${path} (${code})` }], {
      cause: e,
    });
  }
  try {
    return { json: JSON.parse(text), text };
  } catch (e) {
    throw new ConfigError([{ path: setting, message: `the ${what} ${path} is not JSON` }], { cause: e });
  }
}

export interface Identity {
  /** The manifest this gateway trusts (see trustManifest). */
  readonly manifest: ManifestBody;
  /** Its signed document as JSON text, as Federation.GetManifest serves it. */
  readonly manifestJson: string;
  readonly sealerKid: string;
  readonly key: ReturnType<typeof importPrivateJwk>['key'];
}

/**
 * Loads the partner's key and the manifest, checks the manifest against the one the gateway already
 * trusts (persisted in its data directory; trusted on first use), and that key and manifest belong
 * together, now.
 */
export async function loadIdentity(config: GatewayConfig, now: Date, log: Logger): Promise<Identity> {
  const configured = await readJson(config.manifest, 'manifest', 'manifest');
  const trusted = await trustManifest(
    config.data,
    { signed: configured.json as SignedManifest, text: configured.text },
    log,
  );
  const manifest = trusted.body;
  let imported: ReturnType<typeof importPrivateJwk>;
  try {
    imported = importPrivateJwk((await readJson(config.key, 'key', 'key')).json);
  } catch (e) {
    if (e instanceof RegistryError)
      throw new ConfigError([{ path: 'key', message: `${e.code}: ${e.message}` }], { cause: e });
    throw e;
  }
  if (imported.memberId !== config.partner) {
    throw new ConfigError([{ path: 'key', message: `the key ${imported.kid} is not ${config.partner}'s` }]);
  }
  try {
    resolveSigningKey(manifest, config.partner, imported.kid, now);
  } catch (e) {
    if (e instanceof RegistryError) {
      throw new ConfigError([{ path: 'key', message: `${imported.kid} cannot sign now: ${e.code}` }], {
        cause: e,
      });
    }
    throw e;
  }
  return { manifest, manifestJson: trusted.json, sealerKid: imported.kid, key: imported.key };
}
