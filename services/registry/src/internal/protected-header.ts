import { parseProtectedHeader } from '@wbx/jws';

import { RegistryError } from '../errors.js';

/** The `typ` of a manifest signature's protected header. */
export const MANIFEST_TYP = 'wbx-manifest+jws';

/** The kid of a manifest signature's protected header, which must be exactly `{alg: EdDSA, typ, kid}`. */
export function signatureKid(encoded: string, index: number): string {
  const result = parseProtectedHeader(encoded, { typ: MANIFEST_TYP });
  if (result.ok) return result.header.kid;
  throw new RegistryError('BAD_SIGNATURE', `signature ${index}: verification failed`, {
    details: [`signatures[${index}].protected: ${result.reason}`],
  });
}
