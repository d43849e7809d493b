import { decodeBase64url, encodeBase64url, type GeneralJws, type JwsSignature } from '@wbx/jws';

import { parseManifestBody, type ManifestBody } from './body.js';
import { RegistryError } from './errors.js';
import { parseEnvelope } from './internal/envelope.js';
import { signatureKid } from './internal/protected-header.js';

/** One signature of a manifest: protected header `{"alg":"EdDSA","typ":"wbx-manifest+jws","kid":…}`. */
export type ManifestSignature = JwsSignature;

/** A manifest as JWS General JSON Serialization (RFC 7515 §7.2.1); the payload is the JSON body. */
export type SignedManifest = GeneralJws;

/** Validates a body and wraps it as a manifest with no signatures yet. */
export function createManifest(body: ManifestBody): SignedManifest {
  const valid = parseManifestBody(body);
  return { payload: encodeBase64url(JSON.stringify(valid)), signatures: [] };
}

/**
 * Decodes and validates the body of a signed manifest WITHOUT checking any signature; use
 * verifyRootManifest or acceptNextManifest for that. Throws MALFORMED_MANIFEST.
 */
export function decodeManifest(signed: SignedManifest): ManifestBody {
  const envelope = parseEnvelope(signed);
  const bytes = decodeBase64url(envelope.payload);
  if (bytes === undefined) {
    throw new RegistryError('MALFORMED_MANIFEST', 'malformed signed manifest: payload is not base64url', {
      details: ['payload: not canonical base64url'],
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RegistryError('MALFORMED_MANIFEST', 'malformed signed manifest: payload is not JSON', {
      cause: e,
      details: ['payload: not JSON'],
    });
  }
  return parseManifestBody(json);
}

/** The kids named by the signatures' protected headers, in order, WITHOUT verifying anything. */
export function signatureKids(signed: SignedManifest): string[] {
  return parseEnvelope(signed).signatures.map((s, i) => signatureKid(s.protected, i));
}
