const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function b64u(data: string | Buffer): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url');
}

/** Strict base64url decoding: undefined when the text has any character outside the alphabet. */
export function fromB64u(text: string): Buffer | undefined {
  if (!B64URL_RE.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

/** Decodes base64url → UTF-8 (fatal on invalid sequences) → JSON; undefined on any failure. */
export function jsonFromB64u(text: string): unknown {
  const bytes = fromB64u(text);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(utf8.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}
