import { evaluate, type PartnerPolicy, type RecipientGrant } from '@wbx/agreements';
import { PERSON_FIELDS } from '@wbx/schema';
import { bindRefs, isAllowed, type HeldToken, type RefBindingSigner } from '@wbx/seal';

import { subjectRefsOf, type Pseudonyms } from './exchange/pseudonyms.js';
import { presentationPaths } from './exchange/query.js';

/** What the share worker keys and signs stream references with: the node's secret and its signing key. */
export interface StreamRefs {
  /** The same keying as Exchange's Query and Match (one secret, per agreement). */
  readonly pseudonyms: Pseudonyms;
  readonly signer: RefBindingSigner;
}

/**
 * The agreement a recipient's references are keyed for: of the agreements behind `grant` (sorted), the
 * first that grants a subject reference of the event on its own — so the recipient can Match what it
 * received under the agreement the binding names.
 */
export function refAgreement(
  policy: PartnerPolicy,
  grant: RecipientGrant,
  own: HeldToken,
  now: Date,
): string | undefined {
  const event = { type: own.type, origin: own.issuer, claims: own.claims };
  for (const id of grant.agreementIds) {
    const agreement = policy.agreements.find((a) => a.body.id === id);
    if (agreement === undefined) continue;
    if (grant.agreementIds.length === 1) return id;
    const paths = new Set(evaluate([agreement], event, undefined, now).get(grant.recipient)?.paths ?? []);
    if (PERSON_FIELDS.some((f) => isAllowed(`${f}.subjectRef`, paths))) return id;
  }
  return undefined;
}

/**
 * A recipient's presentation of `own` under `grant`. Where the grant includes persons' subject
 * references, the origin's own (federation-wide) references are withheld, as Exchange withholds them;
 * each person's reference keyed for the agreement (`refAgreement`) goes with the presentation instead,
 * in a binding the origin signs over the presentation (`@wbx/seal`'s `bindRefs`), so that the recipient
 * can verify it and two recipients cannot link their records. The person container stays disclosed
 * (`<field>.` keeps it, nothing of it), so the references keep their persons' order. Where no person
 * has a reference, it is the plain presentation of the grant's paths.
 */
export function presentRecord(
  own: HeldToken,
  grant: RecipientGrant,
  policy: PartnerPolicy,
  refs: StreamRefs,
  now: Date,
): string {
  const granted = new Set(grant.paths);
  const fields = PERSON_FIELDS.filter(
    (f) => isAllowed(`${f}.subjectRef`, granted) && own.claims[f] !== undefined,
  );
  if (fields.length === 0) return own.present(grant.paths);
  const presentation = own.present([...presentationPaths(grant.paths).paths, ...fields.map((f) => `${f}.`)]);
  const agreementId = refAgreement(policy, grant, own, now);
  if (agreementId === undefined) return presentation;
  const keyed: Record<string, (string | null)[]> = {};
  for (const f of fields) {
    const origin = subjectRefsOf({ [f]: own.claims[f] });
    keyed[f] = origin.map((r) => (r === '' ? null : refs.pseudonyms.keyed(agreementId, r)));
  }
  const any = Object.values(keyed).some((list) => list.some((r) => r !== null));
  return any ? bindRefs(presentation, own, { agreementId, refs: keyed }, refs.signer, now) : presentation;
}
