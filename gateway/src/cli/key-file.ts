import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';

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
    throw new CliError('IO', `cannot read key ${path}: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  const k = jwk as { kty?: unknown; crv?: unknown; d?: unknown; kid?: unknown };
  if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.d !== 'string') {
    throw new CliError('USAGE', `${path} is not an Ed25519 private JWK`);
  }
  if (typeof k.kid !== 'string' || !/^[A-Z]{2,8}#/.test(k.kid)) {
    throw new CliError('USAGE', `${path} has no kid of the form <partner>#<id>`);
  }
  try {
    const privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    return { kid: k.kid, partner: k.kid.slice(0, k.kid.indexOf('#')), privateKey };
  } catch (e) {
    throw new CliError('USAGE', `${path} is not a usable Ed25519 key`, 2, { cause: e });
  }
}
