import type { KeyObject } from 'node:crypto';

import { draftAgreement, signAgreement, type SignedAgreement } from '@wbx/agreements';
import { decodeManifest, foundFederation, importPrivateJwk, type ManifestBody } from '@wbx/registry';

import { HOUR } from './fixtures.js';

export interface SigningParties {
  /** The founding manifest of MK, RS and AL (keys valid since an hour ago). */
  readonly manifest: ManifestBody;
  /** A party's signing key. */
  readonly signer: (party: string) => { readonly key: KeyObject; readonly kid: string };
  /** MK's records agreement `id` with `recipient` (in force from an hour ago for a day), signed by both. */
  readonly agreement: (id: string, recipient: string) => Promise<SignedAgreement>;
}

/** A federation of MK, RS and AL whose parties sign agreements, as the agreements watcher's tests use. */
export async function signingParties(): Promise<SigningParties> {
  const founded = await foundFederation(
    ['MK', 'RS', 'AL'].map((id) => ({ id })),
    1,
    new Date(Date.now() - HOUR),
  );
  const signers = new Map([...founded.keys].map(([id, k]) => [id, importPrivateJwk(k.privateJwk)]));
  const signer = (party: string): { key: KeyObject; kid: string } => {
    const s = signers.get(party);
    if (s === undefined) throw new Error(`no key for ${party}`);
    return s;
  };
  return {
    manifest: decodeManifest(founded.manifest),
    signer,
    agreement: async (id, recipient) => {
      let signed = draftAgreement({
        id,
        provider: 'MK',
        recipient,
        purposes: ['risk-analysis'],
        legalBasis: 'test',
        validFrom: new Date(Date.now() - HOUR).toISOString(),
        validUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
        terms: [
          { types: ['crossing.irregular'], mode: 'records', fields: ['routeSegment'], retentionDays: 30 },
        ],
      });
      for (const party of ['MK', recipient]) {
        const { key, kid } = signer(party);
        signed = await signAgreement(signed, key, kid, new Date());
      }
      return signed;
    },
  };
}
