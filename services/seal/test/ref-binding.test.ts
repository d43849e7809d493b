import { hash, sign } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  bindRefs,
  disclose,
  holdToken,
  readOwnSealedEvent,
  REF_BINDING_TYP,
  SealError,
  verifyPresentation,
  type SealErrorCode,
} from '../src/index.js';
import { events, manifestFor, newKey, NOW, sealer } from './support.js';

const key = newKey();
const rsKey = newKey('RS#2024-01-01-1');
const manifest = manifestFor([
  { member: 'MK', key },
  { member: 'RS', key: rsKey },
]);
const options = { manifest, now: NOW };
const all = events('MK', 300, 'ref-binding-tests');
const crossing = all.find(
  (e) =>
    e.type === 'crossing.irregular' &&
    (e.crossingIrregular?.persons.length ?? 0) > 1 &&
    e.crossingIrregular?.persons.some((p) => p.subjectRef === undefined) === true &&
    e.crossingIrregular.persons.some((p) => p.subjectRef !== undefined),
);
if (crossing === undefined) throw new Error('no crossing with persons with and without a reference');
const persons = crossing.crossingIrregular?.persons ?? [];
const keyedRefs = persons.map((p, i) =>
  p.subjectRef === undefined ? null : hash('sha256', `keyed ${String(i)}`, 'hex'),
);
const PATHS = ['occurredAt', 'routeSegment', 'persons.citizenship'];
const sealed = sealer(key).seal(crossing, { now: NOW });
const presentation = disclose(sealed, PATHS);
const event = { issuer: 'MK', eventId: crossing.eventId };
const binding = { agreementId: 'MK-RS-1', refs: { persons: keyedRefs } };
const bound = bindRefs(presentation, event, binding, key, NOW);

function codeOf(t: string): SealErrorCode | 'ACCEPTED' {
  try {
    verifyPresentation(t, options);
    return 'ACCEPTED';
  } catch (e) {
    if (e instanceof SealError) return e.code;
    throw e;
  }
}

/** A binding JWS over `payload` with `header`, signed by `k` (for the refusals). */
function jws(payload: object, k = key, header: object = { alg: 'EdDSA', typ: REF_BINDING_TYP, kid: k.kid }) {
  const b = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b(header)}.${b(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), k.privateKey).toString('base64url')}`;
}

const payloadOf = (over: object = {}, p = presentation): object => ({
  iss: 'MK',
  jti: crossing.eventId,
  iat: Math.floor(NOW.getTime() / 1000),
  sd_hash: hash('sha256', p, 'base64url'),
  wbx_agreement: 'MK-RS-1',
  wbx_refs: { persons: keyedRefs },
  ...over,
});

describe('reference binding', () => {
  it("verifies: the keyed references stand as the persons' subjectRef, the origin's own are nowhere", () => {
    const v = verifyPresentation(bound, options);
    expect(v.refAgreement).toBe('MK-RS-1');
    const got = (v.claims.persons as { subjectRef?: string; citizenship: string }[]).map((p) => p.subjectRef);
    expect(got).toEqual(keyedRefs.map((r) => r ?? undefined));
    expect(v.disclosed).toContain('persons.subjectRef');
    for (const p of persons) if (p.subjectRef !== undefined) expect(bound).not.toContain(p.subjectRef);
    expect(readOwnSealedEvent(bound).claims).toEqual(v.claims);
    // Without its binding the presentation is the plain one: no subject reference at all.
    expect(verifyPresentation(presentation, options).disclosed).not.toContain('persons.subjectRef');
  });

  it('keeps the container when only the reference is granted', () => {
    const only = disclose(sealed, ['persons.']);
    const v = verifyPresentation(bindRefs(only, event, binding, key, NOW), options);
    expect(v.claims.persons).toEqual(keyedRefs.map((r) => (r === null ? {} : { subjectRef: r })));
    expect(v.disclosed).toEqual(['persons', 'persons.subjectRef']);
  });

  it('refuses a binding that was changed, moved, signed by another member or does not fit', () => {
    const base = presentation;
    expect(codeOf(`${base}${jws(payloadOf())}`)).toBe('ACCEPTED');
    // Changed after signing: another reference in the payload, same signature.
    const [h, , s] = bound.slice(presentation.length).split('.');
    const forged = Buffer.from(
      JSON.stringify(payloadOf({ wbx_refs: { persons: keyedRefs.map(() => 'f'.repeat(64)) } })),
    );
    expect(codeOf(`${base}${h ?? ''}.${forged.toString('base64url')}.${s ?? ''}`)).toBe('BAD_SIGNATURE');
    // Moved onto another presentation of the same event (more disclosures) or onto another event.
    const wider = disclose(sealed, [...PATHS, 'persons.sex']);
    expect(codeOf(`${wider}${bound.slice(presentation.length)}`)).toBe('BAD_REF_BINDING');
    expect(codeOf(`${base}${jws(payloadOf({ jti: all[0]?.eventId }))}`)).toBe('BAD_REF_BINDING');
    // Signed by RS: a key of another member.
    expect(codeOf(`${base}${jws(payloadOf({}), rsKey)}`)).toBe('UNKNOWN_KEY');
    // The references do not fit the persons, or are not keyed references.
    expect(codeOf(`${base}${jws(payloadOf({ wbx_refs: { persons: [null] } }))}`)).toBe('BAD_REF_BINDING');
    expect(codeOf(`${base}${jws(payloadOf({ wbx_refs: { person: keyedRefs } }))}`)).toBe('BAD_REF_BINDING');
    const short = keyedRefs.map((r) => (r === null ? null : 'abc'));
    expect(codeOf(`${base}${jws(payloadOf({ wbx_refs: { persons: short } }))}`)).toBe('BAD_REF_BINDING');
    expect(codeOf(`${base}${jws(payloadOf({ wbx_agreement: '' }))}`)).toBe('BAD_REF_BINDING');
    // Beside the origin's own references.
    const own = disclose(sealed, [...PATHS, 'persons.subjectRef']);
    expect(codeOf(`${own}${jws(payloadOf({}, own))}`)).toBe('BAD_REF_BINDING');
    // Another typ or alg in the binding's place.
    const kb = jws(payloadOf(), key, { alg: 'EdDSA', typ: 'kb+jwt', kid: key.kid });
    expect(codeOf(`${base}${kb}`)).toBe('MALFORMED_TOKEN');
    const hs = jws(payloadOf(), key, { alg: 'HS256', typ: REF_BINDING_TYP, kid: key.kid });
    expect(codeOf(`${base}${hs}`)).toBe('ALG_NOT_ALLOWED');
    // From the future.
    expect(codeOf(`${base}${jws(payloadOf({ iat: NOW.getTime() / 1000 + 3600 }))}`)).toBe('ISSUED_IN_FUTURE');
  });

  it('is made only by the issuer over a whole presentation, and a holder cannot cut a bound one', () => {
    const rs = { issuer: 'RS', eventId: crossing.eventId };
    expect(() => bindRefs(presentation, rs, binding, key)).toThrow(SealError);
    expect(() => bindRefs(presentation.slice(0, -1), event, binding, key)).toThrow(SealError);
    expect(() => holdToken(bound)).toThrow(expect.objectContaining({ code: 'MALFORMED_TOKEN' }) as Error);
  });
});
