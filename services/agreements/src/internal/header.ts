import { jsonFromBase64url } from './base64url.js';

export const JWS_ALG = 'EdDSA';
export const AGREEMENT_TYP = 'wbx-agreement+jws';
export const REVOCATION_TYP = 'wbx-revocation+jws';
export type JwsTyp = typeof AGREEMENT_TYP | typeof REVOCATION_TYP;

/** 9999-12-31T23:59:59Z: an `iat` beyond is not a time. */
const MAX_IAT = 253_402_300_799;

/** A kid `<partner>#<key id>`: the partner is the signer. */
const KID_RE = /^([A-Z]{2,16})#[A-Za-z0-9._-]{1,64}$/;

/** The protected header of an agreement or revocation signature: exactly these parameters. */
export interface JwsHeader {
  readonly alg: typeof JWS_ALG;
  readonly typ: JwsTyp;
  readonly kid: string;
  /** When it was signed, seconds since the epoch; the key must be valid then. */
  readonly iat?: number;
}

/** The partner a kid belongs to, or undefined if the kid is not `<partner>#<key id>`. */
export function kidOwner(kid: string): string | undefined {
  return KID_RE.exec(kid)?.[1];
}

/** Decodes and checks a protected header; a string says why it is not the WBX profile for `typ`. */
export function parseHeader(encoded: string, typ: JwsTyp): JwsHeader | string {
  const header = jsonFromBase64url(encoded);
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return 'protected header is not base64url of a JSON object';
  }
  const { alg, typ: t, kid, iat, ...rest } = header as Record<string, unknown>;
  if (alg !== JWS_ALG) return `alg must be ${JWS_ALG}`;
  if (t !== typ) return `typ must be ${typ}`;
  if (typeof kid !== 'string' || kidOwner(kid) === undefined) return 'kid must be <partner>#<key id>';
  if (iat !== undefined && !(Number.isInteger(iat) && (iat as number) >= 0 && (iat as number) <= MAX_IAT)) {
    return 'iat must be whole seconds since the epoch';
  }
  const extra = Object.keys(rest);
  if (extra.length > 0) return `unexpected header parameters: ${extra.join(', ')}`;
  return iat === undefined ? { alg, typ, kid } : { alg, typ, kid, iat: iat as number };
}
