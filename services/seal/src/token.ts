import { SealError } from './errors.js';
import { DEFAULT_MAX_TOKEN_BYTES } from './profile.js';

/** An SD-JWT split into its parts, nothing verified yet. */
export interface TokenParts {
  readonly header: string;
  readonly payload: string;
  readonly signature: string;
  /** The encoded disclosures, in order. */
  readonly disclosures: readonly string[];
}

const PART_RE = /^[A-Za-z0-9_-]+$/;
/** The whole token in one pass: base64url parts joined by '.' and '~'. */
const TOKEN_RE = /^[A-Za-z0-9_.~-]*$/;
/** An empty signature (alg none) must reach the alg check, so that it is refused for its alg. */
const SIGNATURE_RE = /^[A-Za-z0-9_-]*$/;

/**
 * Splits `<header>.<payload>.<signature>~<disclosure>~…~`. Key-binding JWTs are not part of the WBX
 * profile, so the token must end with `~`.
 */
export function splitToken(token: string, maxBytes = DEFAULT_MAX_TOKEN_BYTES): TokenParts {
  if (token.length > maxBytes || Buffer.byteLength(token, 'utf8') > maxBytes) {
    throw new SealError('TOKEN_TOO_LARGE', 'token rejected', `token larger than ${maxBytes} bytes`);
  }
  const parts = token.split('~');
  if (parts.length < 2 || parts.at(-1) !== '') {
    throw new SealError('MALFORMED_TOKEN', 'token rejected', 'an SD-JWT without key binding ends with ~');
  }
  const jwt = (parts[0] ?? '').split('.');
  const [header = '', payload = '', signature = ''] = jwt;
  if (jwt.length !== 3 || !PART_RE.test(header) || !PART_RE.test(payload) || !SIGNATURE_RE.test(signature)) {
    throw new SealError('MALFORMED_TOKEN', 'token rejected', 'the issuer JWT is not three base64url parts');
  }
  const disclosures = parts.slice(1, -1);
  if (!TOKEN_RE.test(token) || disclosures.some((d) => d === '' || d.includes('.'))) {
    throw new SealError('MALFORMED_DISCLOSURE', 'token rejected', 'a disclosure is empty or not base64url');
  }
  return { header, payload, signature, disclosures };
}
