import type { KeyObject } from 'node:crypto';

import { decodeAgreement, draftAgreement, signatureParties, type SignedAgreement } from './document.js';
import { AgreementError } from './errors.js';
import { AGREEMENT_TYP } from './internal/header.js';
import { signerOf, signPayload } from './internal/jws-sign.js';

/**
 * Adds the signature of a party (the partner of `kid`: provider or recipient) and returns a new signed
 * agreement; the input is not changed, revocations are kept. The protected header carries `iat` = `at`:
 * whoever verifies checks the key was valid in the manifest then.
 *
 * Throws MALFORMED_AGREEMENT (and the body's codes), INVALID_KEY, INVALID_ARGUMENT, NOT_A_PARTY (the
 * key's partner is neither party), DUPLICATE_SIGNER (that party has signed already).
 */
export async function signAgreement(
  signed: SignedAgreement,
  privateKey: KeyObject,
  kid: string,
  at: Date,
): Promise<SignedAgreement> {
  const body = decodeAgreement(signed);
  const party = signerOf(privateKey, kid, at);
  if (party !== body.provider && party !== body.recipient) {
    throw new AgreementError(
      'NOT_A_PARTY',
      `${kid} is a key of ${party}, not of a party to ${body.id} (${body.provider}, ${body.recipient})`,
    );
  }
  if (signatureParties(signed).includes(party)) {
    throw new AgreementError('DUPLICATE_SIGNER', `${party} has already signed ${body.id}`);
  }
  const signature = await signPayload(signed.payload, AGREEMENT_TYP, privateKey, kid, at);
  return { ...signed, signatures: [...signed.signatures, signature] };
}

/** A key that signs agreements: its kid (`<partner>#…`) and the Ed25519 private key. */
export interface AgreementSigner {
  readonly kid: string;
  readonly key: KeyObject;
}

/**
 * An agreement drafted from `body` and signed by each signer in turn at `at`: with the provider's and the
 * recipient's keys, one that can be in force. Throws what draftAgreement and signAgreement throw.
 */
export async function draftAndSign(
  body: unknown,
  signers: readonly AgreementSigner[],
  at: Date,
): Promise<SignedAgreement> {
  let signed = draftAgreement(body);
  for (const signer of signers) signed = await signAgreement(signed, signer.key, signer.kid, at);
  return signed;
}
