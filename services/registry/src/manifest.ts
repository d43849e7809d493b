import { parseManifestBody, type ManifestBody } from './body.js';
import { RegistryError } from './errors.js';
import { decodeBase64url, encodeBase64url } from './internal/base64url.js';
import { parseEnvelope } from './internal/envelope.js';
import { parseProtectedHeader } from './internal/protected-header.js';

/** One signature of a manifest (JWS General JSON Serialization entry, protected header only). */
export interface ManifestSignature {
  /** base64url of `{"alg":"EdDSA","typ":"wbx-manifest+jws","kid":…}`. */
  readonly protected: string;
  readonly signature: string;
}

/** A manifest as JWS General JSON Serialization (RFC 7515 §7.2.1). */
export interface SignedManifest {
  /** base64url of the JSON body. */
  readonly payload: string;
  readonly signatures: readonly ManifestSignature[];
}

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
  return parseEnvelope(signed).signatures.map((s, i) => parseProtectedHeader(s.protected, i).kid);
}
