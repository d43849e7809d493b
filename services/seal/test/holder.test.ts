import { describe, expect, it } from 'vitest';

import { holdToken, isAllowed, readOwnSealedEvent, SealError, verifyPresentation } from '../src/index.js';
import { events, manifestFor, newKey, NOW, sealer } from './support.js';

const PATH_SETS: readonly (readonly string[])[] = [
  [],
  ['routeSegment'],
  ['occurredAt', 'routeSegment', 'persons.citizenship'],
  ['persons'],
  ['persons.subjectRef', 'persons.ageBand', 'person.citizenship', 'migrantsCount'],
  ['person', 'outcome', 'requestRef', 'evidence', 'deadline'],
];

const key = newKey();
const manifest = manifestFor([{ member: 'MK', key }]);
const all = events('MK', 400, 'holder');

/** The SealError code holdToken refuses `token` with (undefined: accepted). */
function code(token: string, maxBytes?: number): string | undefined {
  try {
    holdToken(token, maxBytes);
    return undefined;
  } catch (e) {
    return e instanceof SealError ? e.code : 'not a SealError';
  }
}

describe('holdToken (parse once, present many)', () => {
  it('gives the claims readOwnSealedEvent gives, for every type', () => {
    const types = new Set<string>();
    for (const event of all) {
      types.add(event.type);
      const token = sealer(key).seal(event, { now: NOW });
      expect(holdToken(token).claims).toEqual(readOwnSealedEvent(token).claims);
    }
    expect(types.size).toBeGreaterThanOrEqual(8);
  });

  it('gives the envelope typed, as verifyPresentation does', () => {
    const token = sealer(key).seal(all[0]!, { now: NOW });
    const { eventId, type, issuer, issuedAt } = holdToken(token);
    const verified = verifyPresentation(token, { manifest, now: NOW });
    expect({ eventId, type, issuer, issuedAt }).toEqual({
      eventId: verified.eventId,
      type: verified.type,
      issuer: verified.issuer,
      issuedAt: verified.issuedAt,
    });
    expect(eventId).toBe(all[0]!.eventId);
  });

  it('presents exactly the allowed disclosures of each path set, one parse for all of them', () => {
    for (const event of all.slice(0, 120)) {
      const token = sealer(key).seal(event, { now: NOW });
      const everything = verifyPresentation(token, { manifest, now: NOW }).disclosed;
      const held = holdToken(token);
      for (const paths of PATH_SETS) {
        const presentation = held.present(paths);
        expect(presentation.startsWith(`${token.slice(0, token.indexOf('~'))}~`)).toBe(true);
        const allowed = new Set(paths);
        // A nested attribute comes with its container only: `persons.citizenship` brings `persons`.
        const expected = everything.filter((p) =>
          p.includes('.')
            ? isAllowed(p, allowed)
            : allowed.has(p) || everything.some((q) => q.startsWith(`${p}.`) && isAllowed(q, allowed)),
        );
        expect(verifyPresentation(presentation, { manifest, now: NOW }).disclosed).toEqual(expected);
      }
    }
  });

  it('refuses a disclosure that is not [salt, name, value] or names __proto__, with a code', () => {
    const token = sealer(key).seal(all[0]!, { now: NOW });
    const jwt = token.slice(0, token.indexOf('~'));
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    expect(code(`${jwt}~${b64(['salt', 'x'])}~`)).toBe('MALFORMED_DISCLOSURE');
    expect(code(`${jwt}~${b64(['salt', 7, 'x'])}~`)).toBe('MALFORMED_DISCLOSURE');
    expect(code(`${jwt}~${b64(['salt', '__proto__', { polluted: true }])}~`)).toBe('FORBIDDEN_CLAIM_NAME');
    expect(code(`${jwt}~not json~`)).toBe('MALFORMED_DISCLOSURE');
    expect(code(jwt)).toBe('MALFORMED_TOKEN');
    expect(code(`${jwt.split('.')[0] ?? ''}.${b64([1, 2])}.sig~`)).toBe('MALFORMED_PAYLOAD');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a payload whose always-visible claims are missing or of the wrong type', () => {
    const token = sealer(key).seal(all[0]!, { now: NOW });
    const [h = '', p = '', s = ''] = token.slice(0, token.indexOf('~')).split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as object;
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const change of [{ jti: undefined }, { iss: 7 }, { iat: '1' }, { wbx_type: null }, { wbx_v: 1.5 }]) {
      expect(code(`${h}.${b64({ ...payload, ...change })}.${s}~`)).toBe('MALFORMED_PAYLOAD');
    }
    expect(code(`${h}.${b64(payload)}.${s}~`)).toBeUndefined();
  });

  it('keeps the 64 KiB cap unless its caller lifts it', () => {
    const token = sealer(key).seal(all[0]!, { now: NOW });
    const padded = `${token}${'A'.repeat(70_000)}~`;
    expect(code(padded)).toBe('TOKEN_TOO_LARGE');
    // Past the size check, the padding is refused for what it is.
    expect(code(padded, Number.MAX_SAFE_INTEGER)).toBe('MALFORMED_DISCLOSURE');
    expect(code(token, Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });
});
