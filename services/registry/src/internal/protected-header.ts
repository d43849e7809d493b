import { RegistryError } from '../errors.js';
import { decodeBase64url } from './base64url.js';

export const MANIFEST_ALG = 'EdDSA';
export const MANIFEST_TYP = 'wbx-manifest+jws';

/** The protected header of a manifest signature; exactly these three parameters. */
export type ManifestHeader = {
  readonly alg: typeof MANIFEST_ALG;
  readonly typ: typeof MANIFEST_TYP;
  readonly kid: string;
};

/** Decodes and checks a protected header; anything but the WBX profile is BAD_SIGNATURE. */
export function parseProtectedHeader(encoded: string, index: number): ManifestHeader {
  const fail = (reason: string): RegistryError =>
    new RegistryError('BAD_SIGNATURE', `signature ${index}: verification failed`, {
      details: [`signatures[${index}].protected: ${reason}`],
    });
  const bytes = decodeBase64url(encoded);
  if (bytes === undefined) throw fail('not base64url');
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RegistryError('BAD_SIGNATURE', `signature ${index}: verification failed`, {
      cause: e,
      details: [`signatures[${index}].protected: not JSON`],
    });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('not an object');
  const { alg, typ, kid, ...rest } = header as Record<string, unknown>;
  if (alg !== MANIFEST_ALG) throw fail(`alg must be ${MANIFEST_ALG}`);
  if (typ !== MANIFEST_TYP) throw fail(`typ must be ${MANIFEST_TYP}`);
  if (typeof kid !== 'string' || kid === '') throw fail('kid missing');
  const extra = Object.keys(rest);
  if (extra.length > 0) throw fail(`unexpected header parameters: ${extra.join(', ')}`);
  return { alg, typ, kid };
}

/** Encodes the protected header for a kid. */
export function manifestHeader(kid: string): ManifestHeader {
  return { alg: MANIFEST_ALG, typ: MANIFEST_TYP, kid };
}
