import { parseProtectedHeader, type JWS_ALG, type ProtectedHeader } from '@wbx/jws';

export { JWS_ALG } from '@wbx/jws';
export const AGREEMENT_TYP = 'wbx-agreement+jws';
export const REVOCATION_TYP = 'wbx-revocation+jws';
export type JwsTyp = typeof AGREEMENT_TYP | typeof REVOCATION_TYP;

/** A kid `<partner>#<key id>`: the partner is the signer. */
const KID_RE = /^([A-Z]{2,16})#[A-Za-z0-9._-]{1,64}$/;

/** The protected header of an agreement or revocation signature: exactly these parameters. */
export interface JwsHeader extends ProtectedHeader {
  readonly alg: typeof JWS_ALG;
  readonly typ: JwsTyp;
  /** When it was signed, seconds since the epoch; the key must be valid then. */
  readonly iat?: number;
}

/** The partner a kid belongs to, or undefined if the kid is not `<partner>#<key id>`. */
export function kidOwner(kid: string): string | undefined {
  return KID_RE.exec(kid)?.[1];
}

/** Decodes and checks a protected header; a string says why it is not the WBX profile for `typ`. */
export function parseHeader(encoded: string, typ: JwsTyp): JwsHeader | string {
  const result = parseProtectedHeader(encoded, { typ, iat: true });
  if (!result.ok) return result.reason;
  if (kidOwner(result.header.kid) === undefined) return 'kid must be <partner>#<key id>';
  return { ...result.header, typ };
}
