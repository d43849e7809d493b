import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { importPrivateJwk, RegistryError } from '@wbx/registry';

import { CliError } from './errors.js';

export interface PrivateKeyFile {
  readonly kid: string;
  /** The partner the key belongs to: the part of the kid before '#'. */
  readonly partner: string;
  readonly privateKey: KeyObject;
}

/** Reads an Ed25519 private JWK written by `wbx keys generate` (with its kid). */
export async function loadPrivateKeyFile(path: string): Promise<PrivateKeyFile> {
  let jwk: unknown;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new CliError('IO', `cannot read key ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const { kid, memberId, key } = importPrivateJwk(jwk);
    return { kid, partner: memberId, privateKey: key };
  } catch (e) {
    if (e instanceof RegistryError) throw new CliError(e, `${path}: ${e.message}`);
    throw e;
  }
}
