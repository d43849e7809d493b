const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Decodes canonical base64url without padding; undefined for anything else. */
export function decodeBase64url(s: string): Buffer | undefined {
  if (!B64URL_RE.test(s) || s.length % 4 === 1) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : undefined;
}

/** base64url without padding (RFC 7515 §2). */
export function encodeBase64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64url');
}

/** The JSON value of a base64url string; undefined if it is not canonical base64url of JSON. */
export function jsonFromBase64url(s: string): unknown {
  const bytes = decodeBase64url(s);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
