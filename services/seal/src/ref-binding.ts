import { hash, sign, verify as verifySignature, type KeyObject } from 'node:crypto';

import { PERSON_FIELDS } from '@wbx/schema';

import { SealError } from './errors.js';
import { b64u, fromB64u, jsonFromB64u } from './internal/base64url.js';
import { isJsonObject, type Json } from './internal/json.js';
import { SEAL_ALG } from './profile.js';

/** The `typ` of a reference binding: the JWS that travels in the key-binding slot of a presentation. */
export const REF_BINDING_TYP = 'wbx-ref-binding+jwt';

const REF_RE = /^[0-9a-f]{64}$/;
/** An agreement id as `@wbx/agreements` allows it (its AGREEMENT_ID_RE; seal does not depend on it). */
const AGREEMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The subject references of a presentation keyed for one agreement, signed by the origin when it shares
 * the presentation. The origin's own (federation-wide) `subjectRef` disclosures are withheld from such
 * a presentation; the binding gives, per person, the reference keyed for `agreementId` instead — the one
 * Exchange's Query and Match use under that agreement — so two recipients cannot join on it.
 */
export interface RefBinding {
  /** The agreement the references are keyed for. */
  readonly agreementId: string;
  /**
   * Per person field of the event (`persons`, `person`), the keyed reference of each person in the
   * order of the field (one for `person`); null for a person without a reference.
   */
  readonly refs: Readonly<Record<string, readonly (string | null)[]>>;
}

export interface RefBindingSigner {
  /** `<partner>#<key id>`, as listed in the federation manifest: the origin's, who sealed the event. */
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/**
 * Appends to `presentation` (an SD-JWT of `issuer`'s event `eventId`, ending with `~`) a compact JWS by
 * the origin, in the slot RFC 9901 gives the key-binding JWT: header `{alg: EdDSA, typ:
 * wbx-ref-binding+jwt, kid}`, payload `{iss, jti, iat, sd_hash, wbx_agreement, wbx_refs}` with `sd_hash`
 * the base64url SHA-256 of the presentation (RFC 9901 §4.3.1), so the binding holds only for that event
 * and those disclosures.
 */
export function bindRefs(
  presentation: string,
  event: { readonly issuer: string; readonly eventId: string },
  binding: RefBinding,
  signer: RefBindingSigner,
  now: Date = new Date(),
): string {
  if (!presentation.endsWith('~') || !signer.kid.startsWith(`${event.issuer}#`)) {
    throw new SealError('INVALID_EVENT', 'a binding is made by the issuer over a presentation ending with ~');
  }
  const header = b64u(JSON.stringify({ alg: SEAL_ALG, typ: REF_BINDING_TYP, kid: signer.kid }));
  const payload = b64u(
    JSON.stringify({
      iss: event.issuer,
      jti: event.eventId,
      iat: Math.floor(now.getTime() / 1000),
      sd_hash: hash('sha256', presentation, 'base64url'),
      wbx_agreement: binding.agreementId,
      wbx_refs: binding.refs,
    }),
  );
  const input = `${header}.${payload}`;
  const signature = sign(null, Buffer.from(input, 'latin1'), signer.privateKey).toString('base64url');
  return `${presentation}${input}.${signature}`;
}

/** A reference binding parsed and checked against its presentation; its signature still to verify. */
export interface ParsedRefBinding {
  readonly kid: string;
  readonly issuedAt: Date;
  readonly agreementId: string;
  readonly refs: Readonly<Record<string, readonly (string | null)[]>>;
  /** The signing input and the signature, for `verifyRefBindingSignature`. */
  readonly signed: Buffer;
  readonly signature: Buffer | undefined;
}

function bad(detail: string): SealError {
  return new SealError('BAD_REF_BINDING', 'token rejected', detail);
}

/**
 * Parses the binding `jws` that follows the SD-JWT `sdJwt` of `iss`'s event `jti`: a JWS of the binding
 * `typ` (another JWT there is MALFORMED_TOKEN, as a key-binding JWT always was in this profile), EdDSA,
 * whose `iss`, `jti` and `sd_hash` are those of the presentation, and whose references are well formed.
 */
export function parseRefBinding(jws: string, sdJwt: string, iss: string, jti: string): ParsedRefBinding {
  const [h = '', p = '', s = ''] = jws.split('.');
  const header = jsonFromB64u(h, true);
  if (!isJsonObject(header) || header.typ !== REF_BINDING_TYP) {
    throw new SealError(
      'MALFORMED_TOKEN',
      'token rejected',
      'what follows the last ~ is no reference binding',
    );
  }
  if (header.alg !== SEAL_ALG) {
    throw new SealError('ALG_NOT_ALLOWED', 'token rejected', `binding alg ${JSON.stringify(header.alg)}`);
  }
  if (typeof header.kid !== 'string' || 'crit' in header)
    throw bad('the binding header needs a kid, no crit');
  const payload = jsonFromB64u(p, true);
  if (!isJsonObject(payload)) throw bad('the binding payload is not a JSON object');
  const { iat, wbx_agreement: agreementId, wbx_refs: refs } = payload;
  if (payload.iss !== iss || payload.jti !== jti) throw bad('the binding is for another event');
  if (payload.sd_hash !== hash('sha256', sdJwt, 'base64url')) throw bad('sd_hash is not the presentation');
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0) throw bad('binding iat');
  if (typeof agreementId !== 'string' || !AGREEMENT_RE.test(agreementId)) throw bad('wbx_agreement');
  if (!isJsonObject(refs)) throw bad('wbx_refs is not an object');
  const out: Record<string, (string | null)[]> = {};
  for (const field of Object.keys(refs)) {
    const list = refs[field];
    if (!PERSON_FIELDS.includes(field) || !Array.isArray(list)) throw bad(`wbx_refs.${field}`);
    if (!list.every((r) => r === null || (typeof r === 'string' && REF_RE.test(r))))
      throw bad(`wbx_refs.${field}: a reference is not 64 lowercase hex`);
    out[field] = list as (string | null)[];
  }
  return {
    kid: header.kid,
    issuedAt: new Date(iat * 1000),
    agreementId,
    refs: out,
    signed: Buffer.from(`${h}.${p}`, 'latin1'),
    signature: fromB64u(s, true),
  };
}

/** Whether the binding's EdDSA signature verifies under `key`. */
export function refBindingSignatureValid(binding: ParsedRefBinding, key: KeyObject): boolean {
  return binding.signature?.length === 64 && verifySignature(null, binding.signed, key, binding.signature);
}

/**
 * Puts the binding's keyed references into the verified `claims` as each person's `subjectRef`, and adds
 * `<field>.subjectRef` to `disclosed` where any was given. Refuses a binding for a person field that is
 * not disclosed or whose persons it does not count right, and a presentation that also discloses the
 * origin's own reference of a person.
 */
export function applyRefBinding(binding: ParsedRefBinding, claims: Json, disclosed: Set<string>): void {
  for (const [field, refs] of Object.entries(binding.refs)) {
    const value = claims[field];
    const persons = Array.isArray(value) ? (value as unknown[]) : value === undefined ? [] : [value];
    if (persons.length !== refs.length || (field === 'person') === Array.isArray(value)) {
      throw bad(`wbx_refs.${field}: ${refs.length} reference(s) for ${persons.length} disclosed person(s)`);
    }
    persons.forEach((person, i) => {
      const ref = refs[i];
      if (!isJsonObject(person)) throw bad(`${field}[${i}] is not an object`);
      if (Object.hasOwn(person, 'subjectRef')) throw bad(`${field}[${i}] discloses its own subjectRef too`);
      if (typeof ref !== 'string') return;
      person.subjectRef = ref;
      disclosed.add(`${field}.subjectRef`);
    });
  }
}
