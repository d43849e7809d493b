import { generalJwsSchema } from '@wbx/jws';

import type { SignedManifest } from '../manifest.js';
import { RegistryError } from '../errors.js';
import { issuePaths } from './issues.js';

/** Checks the shape of a signed manifest (not its body, not its signatures). */
export function parseEnvelope(input: unknown): SignedManifest {
  const result = generalJwsSchema.safeParse(input);
  if (!result.success) {
    const details = issuePaths(result.error.issues);
    throw new RegistryError('MALFORMED_MANIFEST', `malformed signed manifest: ${details.join('; ')}`, {
      cause: result.error,
      details,
    });
  }
  return result.data;
}
