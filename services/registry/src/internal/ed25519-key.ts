/** 32 bytes (an Ed25519 key) in canonical base64url: 43 characters, the last one's low 2 bits zero. */
export const ED25519_KEY_B64URL_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
