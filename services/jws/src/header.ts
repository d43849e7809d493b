import { jsonFromBase64url } from './base64url.js';

/** The one algorithm WBX signs with: EdDSA over Ed25519 (RFC 8037). */
export const JWS_ALG = 'EdDSA';

/** 9999-12-31T23:59:59Z: an `iat` beyond is not a time. */
const MAX_IAT = 253_402_300_799;

/** What a kind of document requires of its protected headers. */
export interface HeaderProfile {
  /** The `typ` it must carry, e.g. `wbx-manifest+jws`. */
  readonly typ: string;
  /** Whether it may carry `iat` (seconds since the epoch: when it was signed). */
  readonly iat?: boolean;
}

/** A protected header: exactly these parameters. */
export interface ProtectedHeader {
  readonly alg: typeof JWS_ALG;
  readonly typ: string;
  readonly kid: string;
  readonly iat?: number;
}

/** A protected header, or why it is not one of the profile (`not base64url`, `typ must be …`, …). */
export type HeaderResult =
  { readonly ok: true; readonly header: ProtectedHeader } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): HeaderResult => ({ ok: false, reason });

/** Decodes a protected header and checks it against `profile`; nothing else is allowed in it. */
export function parseProtectedHeader(encoded: string, profile: HeaderProfile): HeaderResult {
  const header = jsonFromBase64url(encoded);
  if (header === undefined) return fail('not base64url of JSON');
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('not an object');
  const { alg, typ, kid, ...rest } = header as Record<string, unknown>;
  const { iat: signedAt, ...others } = rest;
  const [iat, extra] = profile.iat === true ? [signedAt, others] : [undefined, rest];
  if (alg !== JWS_ALG) return fail(`alg must be ${JWS_ALG}`);
  if (typ !== profile.typ) return fail(`typ must be ${profile.typ}`);
  if (typeof kid !== 'string' || kid === '') return fail('kid missing');
  if (
    iat !== undefined &&
    !(typeof iat === 'number' && Number.isInteger(iat) && iat >= 0 && iat <= MAX_IAT)
  ) {
    return fail('iat must be whole seconds since the epoch');
  }
  const unexpected = Object.keys(extra);
  if (unexpected.length > 0) return fail(`unexpected header parameters: ${unexpected.join(', ')}`);
  return { ok: true, header: iat === undefined ? { alg, typ, kid } : { alg, typ, kid, iat } };
}
