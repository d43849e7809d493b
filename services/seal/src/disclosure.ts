import { hash } from 'node:crypto';

import { b64u } from './internal/base64url.js';

/** One SD-JWT disclosure of an object property: `[salt, name, value]`, as sent and as hashed. */
export interface Disclosure {
  readonly salt: string;
  readonly name: string;
  readonly value: unknown;
  /** base64url of the JSON array: what travels after a `~`. */
  readonly encoded: string;
  /** base64url(SHA-256(encoded)): what the issuer signed in an `_sd` array. */
  readonly digest: string;
}

export function digestOf(encoded: string): string {
  return hash('sha256', encoded, 'base64url');
}

export function createDisclosure(salt: string, name: string, value: unknown): Disclosure {
  const encoded = b64u(JSON.stringify([salt, name, value]));
  return { salt, name, value, encoded, digest: digestOf(encoded) };
}
