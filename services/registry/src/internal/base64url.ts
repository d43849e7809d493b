const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Decodes canonical base64url without padding; undefined for anything else. */
export function decodeBase64url(s: string): Buffer | undefined {
  if (!B64URL_RE.test(s) || s.length % 4 === 1) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : undefined;
}

export function encodeBase64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64url');
}

/** 32 bytes (an Ed25519 key) in canonical base64url: 43 characters, the last one's low 2 bits zero. */
export const ED25519_KEY_B64URL_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
