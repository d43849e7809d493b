import * as z from 'zod';

import type { SignedManifest } from '../manifest.js';
import { RegistryError } from '../errors.js';
import { issuePaths } from './issues.js';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'must be base64url' });

/** The JWS General JSON Serialization as WBX uses it: protected headers only, no unprotected `header`. */
const envelopeSchema = z.strictObject({
  payload: b64url,
  signatures: z.array(z.strictObject({ protected: b64url, signature: b64url })),
});

/** Checks the shape of a signed manifest (not its body, not its signatures). */
export function parseEnvelope(input: unknown): SignedManifest {
  const result = envelopeSchema.safeParse(input);
  if (!result.success) {
    const details = issuePaths(result.error.issues);
    throw new RegistryError('MALFORMED_MANIFEST', `malformed signed manifest: ${details.join('; ')}`, {
      cause: result.error,
      details,
    });
  }
  return result.data;
}
