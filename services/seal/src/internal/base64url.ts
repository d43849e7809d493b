import { isAscii, isUtf8 } from 'node:buffer';

const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const NON_ASCII_RE = /[\x80-\xff]/;

export function b64u(data: string | Buffer): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url');
}

/** Strict base64url decoding: undefined when the text has any character outside the alphabet. */
export function fromB64u(text: string, checked = false): Buffer | undefined {
  if ((!checked && !B64URL_RE.test(text)) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

/**
 * Decodes base64url → UTF-8 (invalid sequences refused, not replaced) → JSON; undefined on any failure.
 * `checked`: the caller has already matched the text against the base64url alphabet.
 */
export function jsonFromB64u(text: string, checked = false): unknown {
  const bytes = fromB64u(text, checked);
  if (bytes === undefined) return undefined;
  // Most disclosures are ASCII, where latin1 decoding is UTF-8 decoding and much cheaper.
  let json = bytes.toString('latin1');
  if (NON_ASCII_RE.test(json)) {
    if (!isUtf8(bytes)) return undefined;
    json = bytes.toString('utf8');
  }
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * All disclosures at once, when each is whole base64url quads (as WBX seals them, padded to a multiple of
 * 3 bytes) and the whole is ASCII: then the decoding of their concatenation is the concatenation of their
 * decodings. Returns each one's JSON text, or undefined when that does not hold (the caller then decodes
 * one by one). A defined result also proves every disclosure is non-empty base64url: it is exactly the
 * canonical encoding of what it decodes to.
 */
export function decodeAsciiDisclosures(disclosures: readonly string[]): string[] | undefined {
  let total = 0;
  for (const d of disclosures) {
    if (d.length === 0 || (d.length & 3) !== 0) return undefined;
    total += d.length;
  }
  const joined = disclosures.join('');
  const bytes = Buffer.from(joined, 'base64url');
  if (bytes.length * 4 !== total * 3 || !isAscii(bytes) || bytes.toString('base64url') !== joined) {
    return undefined;
  }
  const text = bytes.toString('latin1');
  const out: string[] = [];
  let at = 0;
  for (const d of disclosures) out.push(text.slice(at, (at += (d.length / 4) * 3)));
  return out;
}
