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
  /**
   * The origin's reference binding (`ref-binding.ts`), a compact JWS in the key-binding slot after the
   * last `~`, when the presentation has one; nothing about it is checked here beyond its form.
   */
  readonly binding?: string;
}

const PART_RE = /^[A-Za-z0-9_-]+$/;
/** The disclosures between the first and the final '~': base64url parts joined by '~'. */
const TAIL_RE = /^[A-Za-z0-9_~-]*$/;
/** An empty signature (alg none) must reach the alg check, so that it is refused for its alg. */
const SIGNATURE_RE = /^[A-Za-z0-9_-]*$/;
/** A compact JWS after the last `~`: the only thing the profile allows there is a reference binding. */
const BINDING_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Splits `<header>.<payload>.<signature>~<disclosure>~…~`, optionally followed by the origin's reference
 * binding (a compact JWS in RFC 9901's key-binding slot). Holder key binding is not part of the WBX
 * profile: what follows the last `~` must be a JWS, and verification refuses any but a reference binding.
 */
export function splitToken(token: string, maxBytes = DEFAULT_MAX_TOKEN_BYTES): TokenParts {
  return splitAndDecode(token, maxBytes).parts;
}

/**
 * splitToken, and the disclosures' JSON texts when they could be decoded all at once (see
 * decodeAsciiDisclosures), which also checks their alphabet without a pass of a regular expression.
 */
export function splitAndDecode(
  presented: string,
  maxBytes = DEFAULT_MAX_TOKEN_BYTES,
): { parts: TokenParts; decoded: readonly string[] | undefined } {
  // UTF-8 takes at most 3 bytes a UTF-16 code unit: count the bytes only when that could exceed the cap.
  if (
    presented.length > maxBytes ||
    (presented.length * 3 > maxBytes && Buffer.byteLength(presented, 'utf8') > maxBytes)
  ) {
    throw new SealError('TOKEN_TOO_LARGE', 'token rejected', `token larger than ${maxBytes} bytes`);
  }
  let token = presented;
  let first = token.indexOf('~');
  let binding: string | undefined;
  if (first !== -1 && token.charCodeAt(token.length - 1) !== 0x7e) {
    const last = token.lastIndexOf('~');
    binding = token.slice(last + 1);
    if (!BINDING_RE.test(binding)) first = -1;
    token = token.slice(0, last + 1);
  }
  if (first === -1) {
    throw new SealError('MALFORMED_TOKEN', 'token rejected', 'an SD-JWT ends with ~ or a reference binding');
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
  const parts = { header, payload, signature, disclosures };
  return { parts: binding === undefined ? parts : { ...parts, binding }, decoded };
}
