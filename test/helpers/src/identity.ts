import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { foundFederation } from '@wbx/registry';

export interface Identity {
  /** The signed manifest file (threshold 1), trusting every partner's key. */
  readonly manifestFile: string;
  /** The private JWK file of a partner. */
  keyFile(partner: string): string;
}

/** Keys for the partners and a manifest signed by all of them, written under `dir`. */
export async function makeIdentity(
  dir: string,
  partners: readonly string[] = ['MK'],
  /** TLS certificate pins (SHA-256, lowercase hex) per partner. */
  pins: Readonly<Record<string, readonly string[]>> = {},
): Promise<Identity> {
  await mkdir(join(dir, 'keys'), { recursive: true });
  const founders = partners.map((id) => ({ id, tlsCertSha256: pins[id] ?? [] }));
  const { keys, manifest: signed } = await foundFederation(founders, 1, new Date(Date.now() - 3_600_000));
  for (const [id, key] of keys) {
    await writeFile(join(dir, 'keys', `${id}.private.jwk`), JSON.stringify(key.privateJwk), { mode: 0o600 });
    await writeFile(join(dir, 'keys', `${id}.public.jwk`), JSON.stringify(key.publicJwk));
  }
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(signed, null, 2));
  return { manifestFile, keyFile: (partner) => join(dir, 'keys', `${partner}.private.jwk`) };
}
