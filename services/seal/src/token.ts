import { SealError } from './errors.js';
import { decodeAsciiDisclosures } from './internal/base64url.js';
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
/** The disclosures between the first and the final '~': base64url parts joined by '~'. */
const TAIL_RE = /^[A-Za-z0-9_~-]*$/;
/** An empty signature (alg none) must reach the alg check, so that it is refused for its alg. */
const SIGNATURE_RE = /^[A-Za-z0-9_-]*$/;

/**
 * Splits `<header>.<payload>.<signature>~<disclosure>~…~`. Key-binding JWTs are not part of the WBX
 * profile, so the token must end with `~`.
 */
export function splitToken(token: string, maxBytes = DEFAULT_MAX_TOKEN_BYTES): TokenParts {
  return splitAndDecode(token, maxBytes).parts;
}

/**
 * splitToken, and the disclosures' JSON texts when they could be decoded all at once (see
 * decodeAsciiDisclosures), which also checks their alphabet without a pass of a regular expression.
 */
export function splitAndDecode(
  token: string,
  maxBytes = DEFAULT_MAX_TOKEN_BYTES,
): { parts: TokenParts; decoded: readonly string[] | undefined } {
  // UTF-8 takes at most 3 bytes a UTF-16 code unit: count the bytes only when that could exceed the cap.
  if (
    token.length > maxBytes ||
    (token.length * 3 > maxBytes && Buffer.byteLength(token, 'utf8') > maxBytes)
  ) {
    throw new SealError('TOKEN_TOO_LARGE', 'token rejected', `token larger than ${maxBytes} bytes`);
  }
  const first = token.indexOf('~');
  if (first === -1 || token.charCodeAt(token.length - 1) !== 0x7e) {
    throw new SealError('MALFORMED_TOKEN', 'token rejected', 'an SD-JWT without key binding ends with ~');
  }
  const jwt = token.slice(0, first).split('.');
  const [header = '', payload = '', signature = ''] = jwt;
  if (jwt.length !== 3 || !PART_RE.test(header) || !PART_RE.test(payload) || !SIGNATURE_RE.test(signature)) {
    throw new SealError('MALFORMED_TOKEN', 'token rejected', 'the issuer JWT is not three base64url parts');
  }
  // `jwt~` has no disclosures; `jwt~~` has one, empty.
  const tail = token.slice(first + 1, -1);
  const disclosures = first === token.length - 1 ? [] : tail.split('~');
  const decoded = decodeAsciiDisclosures(disclosures);
  if (decoded === undefined && (!TAIL_RE.test(tail) || disclosures.some((d) => d === ''))) {
    throw new SealError('MALFORMED_DISCLOSURE', 'token rejected', 'a disclosure is empty or not base64url');
  }
  return { parts: { header, payload, signature, disclosures }, decoded };
}
