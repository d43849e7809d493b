import { verifyJws } from '@wbx/jws';
import { RegistryError, resolveSigningKey, type ManifestBody } from '@wbx/registry';

import type { AgreementSignature } from '../document.js';
import { kidOwner, parseHeader, type JwsTyp } from './header.js';

/** How far ahead of the verifier's clock a signature's `iat` may be, in seconds. */
export const SIGNATURE_IAT_SKEW_S = 300;

export type SignatureProblem =
  | 'BAD_SIGNATURE'
  | 'NOT_A_PARTY'
  | 'UNKNOWN_KEY'
  | 'KEY_NOT_YET_VALID'
  | 'KEY_EXPIRED'
  | 'KEY_REVOKED'
  | 'SIGNED_IN_FUTURE';

export type SignatureCheck =
  | { readonly ok: true; readonly party: string; readonly kid: string }
  | {
      readonly ok: false;
      readonly problem: SignatureProblem;
      readonly party?: string;
      readonly kid?: string;
    };

const KEY_PROBLEMS: Partial<Record<string, SignatureProblem>> = {
  KEY_NOT_YET_VALID: 'KEY_NOT_YET_VALID',
  KEY_EXPIRED: 'KEY_EXPIRED',
  KEY_REVOKED: 'KEY_REVOKED',
};

/**
 * Checks one signature over `payload`: the WBX header for `typ`, a signer among `parties`, a key the
 * manifest lists for the signer and that was valid at the header's `iat` (else at `now`), an `iat` not
 * in the future, and the Ed25519 signature itself. Synchronous (node:crypto), no exceptions.
 */
export function checkSignature(
  payload: string,
  signature: AgreementSignature,
  typ: JwsTyp,
  parties: readonly string[],
  manifest: ManifestBody,
  now: Date,
): SignatureCheck {
  const header = parseHeader(signature.protected, typ);
  if (typeof header === 'string') return { ok: false, problem: 'BAD_SIGNATURE' };
  const { kid } = header;
  const party = kidOwner(kid) ?? '?';
  if (!parties.includes(party)) return { ok: false, problem: 'NOT_A_PARTY', party, kid };
  const signedAt = header.iat === undefined ? now : new Date(header.iat * 1000);
  if (signedAt.getTime() > now.getTime() + SIGNATURE_IAT_SKEW_S * 1000) {
    return { ok: false, problem: 'SIGNED_IN_FUTURE', party, kid };
  }
  let key;
  try {
    key = resolveSigningKey(manifest, party, kid, signedAt);
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    return { ok: false, problem: KEY_PROBLEMS[e.code] ?? 'UNKNOWN_KEY', party, kid };
  }
  if (verifyJws(payload, signature, key) !== 'VALID') {
    return { ok: false, problem: 'BAD_SIGNATURE', party, kid };
  }
  return { ok: true, party, kid };
}
