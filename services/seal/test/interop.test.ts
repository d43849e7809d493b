/**
 * Interoperability of the WBX seal with an independent SD-JWT implementation, @sd-jwt/core 0.19.0
 * (openwallet-foundation/sd-jwt-js): tokens we seal verify there and decode to the same claims, tokens it
 * issues with our profile verify here, and presentations made on either side verify on the other.
 *
 * Known weakness of @sd-jwt/core 0.19.0, pinned by the last describe block: its verify() maps the
 * disclosures by digest and looks up only the digests the payload references, so a disclosure that no
 * digest references is silently ignored and the token is accepted. RFC 9901 §7.1 step 5 says: "If any
 * Disclosure was not referenced by digest value in the Issuer-signed JWT (directly or recursively via
 * other Disclosures), the SD-JWT MUST be rejected." Our verifyPresentation refuses such a token with
 * UNREFERENCED_DISCLOSURE. (The same lookup also lets 0.19.0 accept a disclosure sent twice, which RFC 9901
 * §4 forbids a Holder to send; ours refuses it with DUPLICATE_DISCLOSURE.) Do not use @sd-jwt/core 0.19.0
 * as a WBX verifier.
 */
import { randomBytes, sign, verify } from 'node:crypto';

import { SDJwtInstance } from '@sd-jwt/core';
import { digest } from '@sd-jwt/crypto-nodejs';
import type { DisclosureFrame, PresentationFrame } from '@sd-jwt/types';
import { describe, expect, it } from 'vitest';

import { CATALOGUE, PERSON_FIELDS, SOURCE_EVENT_TYPES, type ValidEvent } from '@wbx/schema';

import { digestOf, disclose, SealError, verifyPresentation, type SealErrorCode } from '../src/index.js';
import {
  encodeDisclosure,
  events,
  firstOfType,
  KID,
  manifestFor,
  newKey,
  NOW,
  sealer,
  takeApart,
  type TestKey,
} from './support.js';

type Claims = Record<string, unknown>;

const key = newKey();
const manifest = manifestFor([{ member: 'MK', key }]);
const all = events('MK', 1500, 'interop-tests');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const HEADER = { alg: 'EdDSA', typ: 'wbx-event+sd-jwt', kid: KID };

/** A crossing with several persons, so that nested disclosures are exercised at more than one index. */
const crossing = all.find(
  (e) => e.type === 'crossing.irregular' && (e.crossingIrregular?.persons.length ?? 0) >= 3,
);
if (crossing === undefined) throw new Error('no crossing.irregular event with 3 or more persons');

/** @sd-jwt/core configured for the WBX profile: EdDSA over Ed25519 with node:crypto, sha-256 digests. */
function library(k: TestKey): SDJwtInstance<Claims> {
  return new SDJwtInstance<Claims>({
    hashAlg: 'sha-256',
    // the library's own node hasher, so that digests are computed independently of our digestOf
    hasher: (data, alg) => {
      if (alg !== 'sha-256') throw new Error(`unexpected _sd_alg ${alg}`);
      return digest(data, alg);
    },
    saltGenerator: (length) => randomBytes(length).toString('base64url'),
    signAlg: 'EdDSA',
    signer: (data) => sign(null, Buffer.from(data), k.privateKey).toString('base64url'),
    verifier: (data, signature) =>
      verify(null, Buffer.from(data), k.publicKey, Buffer.from(signature, 'base64url')),
  });
}

const sdjwt = library(key);

function bodyOf(e: ValidEvent): Claims {
  const body = e[CATALOGUE[e.type]] as Claims | undefined;
  if (body === undefined) throw new Error(`event ${e.eventId} has no body`);
  return JSON.parse(JSON.stringify(body)) as Claims; // drops undefined optionals, as JSON would
}

/** The processed payload (RFC 9901 §7.1) of a fully disclosed sealed event. */
function claimsOf(e: ValidEvent, iat = NOW_S): Claims {
  return {
    iss: e.origin,
    jti: e.eventId,
    iat,
    wbx_type: e.type,
    wbx_v: e.schemaVersion,
    occurredAt: e.occurredAt,
    recordedAt: e.recordedAt,
    ...bodyOf(e),
  };
}

/** What a processed payload holds besides the claims our profile defines: `_sd_alg` and `cnf` (none of ours). */
function withoutSdAlgAndCnf(claims: Claims): Claims {
  const { _sd_alg: _alg, cnf: _cnf, ...rest } = claims;
  return rest;
}

/**
 * The WBX profile expressed as an @sd-jwt/core disclosure frame: every body field and occurredAt/recordedAt
 * selectively disclosable, each person's attributes disclosable inside `person`/`persons` (nested `_sd`),
 * and decoys at every level.
 */
function wbxFrame(claims: Claims): DisclosureFrame<Claims> {
  const disclosable = Object.keys(claims).filter(
    (k) => !['iss', 'jti', 'iat', 'wbx_type', 'wbx_v'].includes(k),
  );
  const frame: Record<string, unknown> = { _sd: disclosable, _sd_decoy: 3 };
  const personFrame = (p: unknown): unknown => ({ _sd: Object.keys(p as Claims), _sd_decoy: 2 });
  for (const field of PERSON_FIELDS) {
    const value = claims[field];
    if (Array.isArray(value)) frame[field] = Object.fromEntries(value.map((p, i) => [i, personFrame(p)]));
    else if (value !== undefined) frame[field] = personFrame(value);
  }
  return frame as DisclosureFrame<Claims>;
}

async function issueWithLibrary(e: ValidEvent, frame?: DisclosureFrame<Claims>): Promise<string> {
  const claims = claimsOf(e);
  return sdjwt.issue(claims, frame ?? wbxFrame(claims), { header: HEADER });
}

function codeOf(token: string): SealErrorCode | 'ACCEPTED' {
  try {
    verifyPresentation(token, { manifest, now: NOW });
    return 'ACCEPTED';
  } catch (e) {
    if (e instanceof SealError) return e.code;
    throw e;
  }
}

describe('interop with @sd-jwt/core 0.19.0', () => {
  describe('tokens sealed by createSealer verify with @sd-jwt/core', () => {
    it.each(SOURCE_EVENT_TYPES)('%s: same processed claims on both sides', async (type) => {
      const event = type === 'crossing.irregular' ? crossing : firstOfType(all, type);
      const token = sealer(key).seal(event, { now: NOW });
      const ours = verifyPresentation(token, { manifest, now: NOW });
      const theirs = await sdjwt.verify(token, { currentDate: NOW_S });
      expect(theirs.header).toEqual(HEADER);
      // @sd-jwt/core strips _sd_alg itself; our tokens carry no cnf (no key binding in the profile)
      expect(theirs.payload).not.toHaveProperty('_sd_alg');
      expect(withoutSdAlgAndCnf(theirs.payload as Claims)).toEqual(ours.claims);
      expect(ours.claims).toEqual(claimsOf(event));
    });

    it('sees every person attribute of a crossing as a disclosure nested in persons', async () => {
      const token = sealer(key).seal(crossing, { now: NOW });
      const persons = crossing.crossingIrregular?.persons ?? [];
      const keys = await sdjwt.presentableKeys(token);
      expect(keys).toContain('persons');
      expect(keys).toContain('routeSegment');
      persons.forEach((p, i) => {
        for (const attr of Object.keys(p)) expect(keys).toContain(`persons.${i}.${attr}`);
      });
      const decoded = await sdjwt.decode(token);
      expect(decoded.disclosures).toHaveLength(takeApart(token).disclosures.length);
    });

    it('is refused by @sd-jwt/core when signed by another key, so the verifier callback is really used', async () => {
      const forged = sealer(newKey()).seal(crossing, { now: NOW });
      await expect(sdjwt.verify(forged, { currentDate: NOW_S })).rejects.toThrow(/Invalid JWT Signature/);
    });

    it("a presentation from our disclose(['routeSegment', 'persons.citizenship']) shows exactly those claims", async () => {
      const token = sealer(key).seal(crossing, { now: NOW });
      const presentation = disclose(token, ['routeSegment', 'persons.citizenship']);
      const { payload } = await sdjwt.verify(presentation, { currentDate: NOW_S });
      const persons = crossing.crossingIrregular?.persons ?? [];
      expect(payload).toEqual({
        iss: 'MK',
        jti: crossing.eventId,
        iat: NOW_S,
        wbx_type: 'crossing.irregular',
        wbx_v: crossing.schemaVersion,
        routeSegment: crossing.crossingIrregular?.routeSegment,
        persons: persons.map((p) => ({ citizenship: p.citizenship })),
      });
      expect(payload).toEqual(verifyPresentation(presentation, { manifest, now: NOW }).claims);
      expect(await sdjwt.presentableKeys(presentation)).toEqual(
        ['persons', ...persons.map((_, i) => `persons.${i}.citizenship`), 'routeSegment'].sort(),
      );
    });
  });

  describe('tokens issued by @sd-jwt/core with the WBX profile verify with verifyPresentation', () => {
    it.each(['crossing.irregular', 'asylum.application', 'smuggling.incident', 'readmission.request'])(
      '%s: same processed claims on both sides',
      async (type) => {
        const event = type === 'crossing.irregular' ? crossing : firstOfType(all, type);
        const token = await issueWithLibrary(event);
        const { header, payload } = takeApart(token);
        expect(header).toEqual(HEADER);
        expect(Object.keys(payload).sort()).toEqual([
          '_sd',
          '_sd_alg',
          'iat',
          'iss',
          'jti',
          'wbx_type',
          'wbx_v',
        ]);
        // 2 event times + every body field + 3 decoys
        expect(payload._sd).toHaveLength(2 + Object.keys(bodyOf(event)).length + 3);

        const ours = verifyPresentation(token, { manifest, now: NOW });
        expect(ours.kid).toBe(KID);
        expect(ours.claims).toEqual(claimsOf(event));
        expect(ours.claims).toEqual(await sdjwt.getClaims(token));
      },
    );

    it('nests each person of a crossing as its own _sd object with decoys', async () => {
      const token = await issueWithLibrary(crossing);
      const persons = crossing.crossingIrregular?.persons ?? [];
      const personsDisclosure = takeApart(token)
        .disclosures.map((d) => JSON.parse(Buffer.from(d, 'base64url').toString('utf8')) as unknown[])
        .find((d) => d[1] === 'persons');
      const nested = personsDisclosure?.[2] as { _sd: string[] }[];
      expect(nested).toHaveLength(persons.length);
      nested.forEach((p, i) => expect(p._sd).toHaveLength(Object.keys(persons[i]!).length + 2));
      expect(verifyPresentation(token, { manifest, now: NOW }).disclosed).toEqual(
        [
          'occurredAt',
          'recordedAt',
          ...Object.keys(bodyOf(crossing)),
          ...Object.keys(persons[0]!).map((a) => `persons.${a}`),
        ].sort(),
      );
    });

    it('a presentation made with @sd-jwt/core present() verifies with ours and shows exactly the frame', async () => {
      const token = await issueWithLibrary(crossing);
      const persons = crossing.crossingIrregular?.persons ?? [];
      const frame = {
        routeSegment: true,
        persons: Object.fromEntries(persons.map((_, i) => [i, { citizenship: true }])),
      } as PresentationFrame<Claims>;
      const presentation = await sdjwt.present(token, frame);
      expect(presentation.endsWith('~')).toBe(true);
      const ours = verifyPresentation(presentation, { manifest, now: NOW });
      expect(ours.disclosed).toEqual(['persons', 'persons.citizenship', 'routeSegment']);
      expect(ours.claims).toEqual({
        iss: 'MK',
        jti: crossing.eventId,
        iat: NOW_S,
        wbx_type: 'crossing.irregular',
        wbx_v: crossing.schemaVersion,
        routeSegment: crossing.crossingIrregular?.routeSegment,
        persons: persons.map((p) => ({ citizenship: p.citizenship })),
      });
    });

    it('a presentation of a single person made with present() verifies with ours', async () => {
      const event = firstOfType(all, 'asylum.application');
      const token = await issueWithLibrary(event);
      const frame = {
        countryOfOrigin: true,
        person: { ageBand: true, sex: true },
      } as PresentationFrame<Claims>;
      const ours = verifyPresentation(await sdjwt.present(token, frame), { manifest, now: NOW });
      expect(ours.disclosed).toEqual(['countryOfOrigin', 'person', 'person.ageBand', 'person.sex']);
      expect(ours.claims.person).toEqual({
        ageBand: event.asylumApplication?.person.ageBand,
        sex: event.asylumApplication?.person.sex,
      });
    });

    it('our disclose() narrows an @sd-jwt/core token like one of our own', async () => {
      const token = await issueWithLibrary(crossing);
      const presentation = disclose(token, ['direction', 'persons.ageBand']);
      const ours = verifyPresentation(presentation, { manifest, now: NOW });
      expect(ours.disclosed).toEqual(['direction', 'persons', 'persons.ageBand']);
      expect(await sdjwt.getClaims(presentation)).toEqual(ours.claims);
    });

    it('ignores decoy array elements ({"...": digest}) that @sd-jwt/core adds to persons', async () => {
      const claims = claimsOf(crossing);
      const frame = wbxFrame(claims) as Record<string, Record<string, unknown>>;
      frame.persons = { ...frame.persons, _sd_decoy: 2 };
      const token = await sdjwt.issue(claims, frame, { header: HEADER });
      const ours = verifyPresentation(token, { manifest, now: NOW });
      expect(ours.claims).toEqual(claims);
      expect(ours.claims).toEqual(await sdjwt.getClaims(token));
    });

    it('refuses array-element disclosures, which the WBX profile does not use (@sd-jwt/core accepts them)', async () => {
      const claims = claimsOf(firstOfType(all, 'readmission.request'));
      const frame: Record<string, unknown> = {
        ...(wbxFrame(claims) as Record<string, unknown>),
        evidence: { _sd: [0] },
      };
      const token = await sdjwt.issue(claims, frame as DisclosureFrame<Claims>, { header: HEADER });
      expect((await sdjwt.verify(token, { currentDate: NOW_S })).payload).toEqual(claims);
      expect(codeOf(token)).toBe('MALFORMED_DISCLOSURE');
    });
  });

  describe('RFC 9901 §7.1 checks that @sd-jwt/core 0.19.0 skips', () => {
    const token = sealer(key).seal(crossing, { now: NOW });
    const extra = encodeDisclosure(['c2FsdHNhbHRzYWx0c2FsdA', 'routeSegment', 'GR-MK']);

    it('a disclosure that no digest references: @sd-jwt/core accepts it, ours refuses UNREFERENCED_DISCLOSURE', async () => {
      const tampered = `${token}${extra}~`;
      expect(takeApart(token).payload._sd).not.toContain(digestOf(extra));
      const theirs = await sdjwt.verify(tampered, { currentDate: NOW_S });
      // accepted, and the stray disclosure is silently dropped from the claims
      expect(theirs.payload).toEqual(claimsOf(crossing));
      expect((await sdjwt.decode(tampered)).disclosures).toHaveLength(
        takeApart(token).disclosures.length + 1,
      );
      expect(codeOf(tampered)).toBe('UNREFERENCED_DISCLOSURE');
    });

    it('the same holds for a token issued by @sd-jwt/core and for a disclosure taken from another token', async () => {
      const issued = await issueWithLibrary(crossing);
      const foreign = takeApart(sealer(key).seal(firstOfType(all, 'smuggling.incident'), { now: NOW }))
        .disclosures[0]!;
      for (const t of [`${issued}${extra}~`, `${issued}${foreign}~`, `${token}${foreign}~`]) {
        await expect(sdjwt.verify(t, { currentDate: NOW_S })).resolves.toBeDefined();
        expect(codeOf(t)).toBe('UNREFERENCED_DISCLOSURE');
      }
    });

    it('a disclosure sent twice: @sd-jwt/core accepts it, ours refuses DUPLICATE_DISCLOSURE', async () => {
      const twice = `${token}${takeApart(token).disclosures[0]!}~`;
      expect((await sdjwt.verify(twice, { currentDate: NOW_S })).payload).toEqual(claimsOf(crossing));
      expect(codeOf(twice)).toBe('DUPLICATE_DISCLOSURE');
    });
  });
});
