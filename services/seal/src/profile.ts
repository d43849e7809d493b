/** The WBX SD-JWT profile (DESIGN.md, Sealed event). */
export const SEAL_ALG = 'EdDSA';
export const SEAL_TYP = 'wbx-event+sd-jwt';
export const SD_ALG = 'sha-256';
/** Claims every holder sees; never disclosures. */
export const ALWAYS_VISIBLE = ['iss', 'jti', 'iat', 'wbx_type', 'wbx_v'] as const;
/** Default cap on a token's size in bytes. */
export const DEFAULT_MAX_TOKEN_BYTES = 64 * 1024;
/** How far ahead of the verifier's clock an issuer's `iat` may be. */
export const DEFAULT_IAT_SKEW_S = 300;
