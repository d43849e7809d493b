import { hash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { SealError, verifyPresentation, type SealErrorCode, type VerifyOptions } from '../src/index.js';
import {
  craft,
  encodeDisclosure,
  events,
  firstOfType,
  manifestFor,
  newKey,
  NOW,
  sealer,
  takeApart,
  type Crafted,
} from './support.js';

const key = newKey();
const manifest = manifestFor([{ member: 'MK', key }]);
const options: VerifyOptions = { manifest, now: NOW };
const all = events('MK', 300, 'verify-tests');
const event = firstOfType(all, 'crossing.irregular');
const token = sealer(key).seal(event, { now: NOW });
const other = sealer(key).seal(firstOfType(all, 'smuggling.incident'), { now: NOW });

function codeOf(t: string, opts: VerifyOptions = options): SealErrorCode | 'ACCEPTED' {
  try {
    verifyPresentation(t, opts);
    return 'ACCEPTED';
  } catch (e) {
    if (e instanceof SealError) return e.code;
    throw e;
  }
}

/** Re-signs a modified token with the real key: only the rule under test can refuse it. */
function resigned(change: (c: Crafted) => void, from = token): string {
  const c = takeApart(from);
  change(c);
  return craft(c, key.privateKey);
}

describe('verifyPresentation', () => {
  it('accepts the sealed token as a baseline', () => {
    expect(codeOf(token)).toBe('ACCEPTED');
  });

  it('gives the envelope typed: eventId, type, issuer and issuedAt from jti, wbx_type, iss and iat', () => {
    const v = verifyPresentation(token, options);
    expect(v).toMatchObject({ eventId: event.eventId, type: event.type, issuer: 'MK', kid: key.kid });
    expect(v.issuedAt).toEqual(new Date(Math.floor(NOW.getTime() / 1000) * 1000));
    expect(v.claims).toMatchObject({ jti: v.eventId, wbx_type: v.type, iss: v.issuer });
    expect(v.claims.iat).toBe(v.issuedAt.getTime() / 1000);
  });

  describe('refuses the wrong algorithm', () => {
    it.each([['none'], ['HS256'], ['ES256'], ['RS256'], ['EdDSA ']])('alg %s → ALG_NOT_ALLOWED', (alg) => {
      const c = takeApart(token);
      c.header.alg = alg;
      expect(codeOf(craft(c, alg === 'none' ? 'none' : key.privateKey))).toBe('ALG_NOT_ALLOWED');
    });

    it('refuses alg confusion: HS256 keyed with the public key bytes', () => {
      const c = takeApart(token);
      c.header.alg = 'HS256';
      const raw = key.publicKey.export({ format: 'der', type: 'spki' });
      const jwkX = Buffer.from((key.publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
      expect(codeOf(craft(c, raw))).toBe('ALG_NOT_ALLOWED');
      expect(codeOf(craft(c, jwkX))).toBe('ALG_NOT_ALLOWED');
      // and the same MAC under the real header is no valid signature either
      const forged = craft({ ...c, header: { ...c.header, alg: 'EdDSA' } }, jwkX);
      expect(codeOf(forged)).toBe('BAD_SIGNATURE');
    });
  });

  it.each([['JWT'], ['vc+sd-jwt'], [undefined]])('typ %s → WRONG_TYP', (typ) => {
    expect(codeOf(resigned((c) => (c.header.typ = typ)))).toBe('WRONG_TYP');
  });

  it('refuses a header with crit or without kid', () => {
    expect(codeOf(resigned((c) => (c.header.crit = ['b64'])))).toBe('MALFORMED_HEADER');
    expect(codeOf(resigned((c) => delete c.header.kid))).toBe('MALFORMED_HEADER');
  });

  it('refuses an unknown issuer', () => {
    expect(codeOf(resigned((c) => (c.payload.iss = 'XK')))).toBe('UNKNOWN_ISSUER');
  });

  it('refuses an unknown key id', () => {
    expect(codeOf(resigned((c) => (c.header.kid = 'MK#2024-01-01-9')))).toBe('UNKNOWN_KEY');
  });

  it('refuses a key of another member even when it signs correctly', () => {
    const rsKey = newKey('RS#2024-01-01-1');
    const m = manifestFor([
      { member: 'MK', key },
      { member: 'RS', key: rsKey },
    ]);
    const c = takeApart(token);
    c.header.kid = rsKey.kid;
    expect(codeOf(craft(c, rsKey.privateKey), { manifest: m, now: NOW })).toBe('UNKNOWN_KEY');
  });

  it.each([
    ['KEY_NOT_YET_VALID', { notBefore: '2024-06-01T12:00:01Z' }],
    ['KEY_EXPIRED', { notAfter: '2024-06-01T12:00:00Z' }],
    ['KEY_REVOKED', { revokedAt: '2024-06-01T11:59:59Z' }],
  ] as const)('refuses a token whose key was not valid at iat: %s', (code, window) => {
    const m = manifestFor([{ member: 'MK', key, ...window }]);
    expect(codeOf(token, { manifest: m, now: NOW })).toBe(code);
  });

  it('accepts a token issued before its key was revoked, refuses one issued after', () => {
    const m = manifestFor([{ member: 'MK', key, revokedAt: '2024-06-01T12:00:01Z' }]);
    expect(codeOf(token, { manifest: m, now: new Date('2024-07-01T00:00:00Z') })).toBe('ACCEPTED');
    const later = sealer(key).seal(event, { now: new Date('2024-06-01T12:00:02Z') });
    expect(codeOf(later, { manifest: m, now: new Date('2024-07-01T00:00:00Z') })).toBe('KEY_REVOKED');
  });

  it('refuses a tampered payload and a signature by another key', () => {
    const [h, p, s] = (token.split('~')[0] ?? '').split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    payload.wbx_type = 'smuggling.incident';
    const tampered = `${h ?? ''}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s ?? ''}~`;
    expect(codeOf(tampered)).toBe('BAD_SIGNATURE');
    expect(codeOf(craft(takeApart(token), newKey().privateKey))).toBe('BAD_SIGNATURE');
    const flipped = token.replace(
      /\.([A-Za-z0-9_-])([A-Za-z0-9_-]*)~/,
      (_, a: string, b: string) => `.${a === 'A' ? 'B' : 'A'}${b}~`,
    );
    expect(codeOf(flipped)).toBe('BAD_SIGNATURE');
  });

  it('refuses a token issued in the future', () => {
    const future = sealer(key).seal(event, { now: new Date(NOW.getTime() + 10 * 60_000) });
    expect(codeOf(future)).toBe('ISSUED_IN_FUTURE');
  });

  it('refuses a disclosure swapped in from another token', () => {
    const a = takeApart(token);
    const b = takeApart(other);
    a.disclosures[0] = b.disclosures[0] ?? '';
    expect(codeOf(`${token.split('~')[0] ?? ''}~${a.disclosures.map((d) => `${d}~`).join('')}`)).toBe(
      'UNREFERENCED_DISCLOSURE',
    );
  });

  it('refuses a disclosure whose digest is not in the payload', () => {
    const extra = encodeDisclosure(['c2FsdHNhbHRzYWx0c2FsdA', 'routeSegment', 'GR-MK']);
    expect(codeOf(`${token}${extra}~`)).toBe('UNREFERENCED_DISCLOSURE');
  });

  it('refuses the same disclosure twice', () => {
    const first = takeApart(token).disclosures[0] ?? '';
    expect(codeOf(`${token}${first}~`)).toBe('DUPLICATE_DISCLOSURE');
  });

  it('refuses a digest that appears twice', () => {
    expect(
      codeOf(
        resigned((c) => (c.payload._sd = [...(c.payload._sd as string[]), (c.payload._sd as string[])[0]])),
      ),
    ).toBe('DUPLICATE_DIGEST');
  });

  it.each([['_sd'], ['...']])('refuses a disclosure that names %s', (name) => {
    const d = encodeDisclosure(['c2FsdHNhbHRzYWx0c2FsdA', name, ['x']]);
    const t = resigned((c) => {
      c.disclosures.push(d);
      c.payload._sd = [...(c.payload._sd as string[]), hashOf(d)];
    });
    expect(codeOf(t)).toBe('FORBIDDEN_CLAIM_NAME');
  });

  it('refuses a __proto__ key inside a disclosed value', () => {
    const d = encodeDisclosure([
      'c2FsdHNhbHRzYWx0c2FsdA',
      'location',
      JSON.parse('{"__proto__":{"lat":1},"lon":2}'),
    ]);
    const t = resigned((c) => {
      c.disclosures = c.disclosures.filter(
        (x) => !Buffer.from(x, 'base64url').toString().includes('"location"'),
      );
      c.disclosures.push(d);
      c.payload._sd = [...(c.payload._sd as string[]), hashOf(d)];
    });
    expect(codeOf(t)).toBe('FORBIDDEN_CLAIM_NAME');
  });

  it('refuses two disclosures of the same claim', () => {
    const d = encodeDisclosure(['c2FsdHNhbHRzYWx0c2FsdA', 'occurredAt', '2024-05-31T00:00:00Z']);
    const t = resigned((c) => {
      c.disclosures.push(d);
      c.payload._sd = [...(c.payload._sd as string[]), hashOf(d)];
    });
    expect(codeOf(t)).toBe('CLAIM_CONFLICT');
  });

  it('refuses a plaintext claim outside the profile and a missing one', () => {
    expect(codeOf(resigned((c) => (c.payload.routeSegment = 'GR-MK')))).toBe('MALFORMED_PAYLOAD');
    expect(codeOf(resigned((c) => delete c.payload.iss))).toBe('MALFORMED_PAYLOAD');
    expect(codeOf(resigned((c) => (c.payload.iat = '2024')))).toBe('MALFORMED_PAYLOAD');
  });

  it('refuses another _sd_alg', () => {
    expect(codeOf(resigned((c) => (c.payload._sd_alg = 'sha-512')))).toBe('UNSUPPORTED_SD_ALG');
  });

  it('refuses disclosed claims that violate the schema', () => {
    const bad = encodeDisclosure(['c2FsdHNhbHRzYWx0c2FsdA', 'routeSegment', 'XX-XX']);
    const t = resigned((c) => {
      const keep = c.disclosures.filter(
        (d) => !Buffer.from(d, 'base64url').toString().includes('"routeSegment"'),
      );
      c.disclosures = [...keep, bad];
      c.payload._sd = [...(c.payload._sd as string[]), hashOf(bad)];
    });
    expect(codeOf(t)).toBe('SCHEMA_VIOLATION');
    expect(codeOf(resigned((c) => (c.payload.wbx_v = 2)))).toBe('SCHEMA_VIOLATION');
    expect(codeOf(resigned((c) => (c.payload.jti = 'not-a-uuid')))).toBe('SCHEMA_VIOLATION');
  });

  describe('refuses malformed input', () => {
    const jwt = token.split('~')[0] ?? '';
    it.each([
      ['truncated in the JWT', token.slice(0, 40), 'MALFORMED_TOKEN'],
      ['truncated in a disclosure', token.slice(0, token.length - 10), 'MALFORMED_TOKEN'],
      ['without the final ~', token.slice(0, -1), 'MALFORMED_TOKEN'],
      ['empty', '', 'MALFORMED_TOKEN'],
      ['a JWT of two parts', `${jwt.split('.').slice(0, 2).join('.')}~`, 'MALFORMED_TOKEN'],
      ['padding in base64url', `${jwt}=~`, 'MALFORMED_TOKEN'],
      ['an empty disclosure', `${jwt}~~`, 'MALFORMED_DISCLOSURE'],
      ['a disclosure with illegal characters', `${jwt}~abc$def~`, 'MALFORMED_DISCLOSURE'],
      [
        'a disclosure that is not an array',
        `${jwt}~${encodeDisclosure({ a: 1 } as never)}~`,
        'MALFORMED_DISCLOSURE',
      ],
      ['a disclosure of two elements', `${jwt}~${encodeDisclosure(['salt', 'x'])}~`, 'MALFORMED_DISCLOSURE'],
      [
        'a disclosure of invalid UTF-8',
        `${jwt}~${Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]).toString('base64url')}~`,
        'MALFORMED_DISCLOSURE',
      ],
      [
        'a header of invalid UTF-8',
        `${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${jwt.split('.')[1] ?? ''}.${jwt.split('.')[2] ?? ''}~`,
        'MALFORMED_HEADER',
      ],
      [
        'a header that is not JSON',
        `${Buffer.from('nope').toString('base64url')}.${jwt.split('.')[1] ?? ''}.${jwt.split('.')[2] ?? ''}~`,
        'MALFORMED_HEADER',
      ],
      ['a key-binding JWT appended', `${token}${jwt}`, 'MALFORMED_TOKEN'],
    ] as const)('%s → %s', (_what, t, code) => {
      expect(codeOf(t)).toBe(code);
    });

    it('refuses a 1 MB token before parsing it, and honours a configured cap', () => {
      expect(codeOf(`${token}${'A'.repeat(1024 * 1024)}~`)).toBe('TOKEN_TOO_LARGE');
      expect(codeOf(token, { ...options, maxBytes: 100 })).toBe('TOKEN_TOO_LARGE');
    });
  });

  it('says little to the caller and everything in the detail', () => {
    try {
      verifyPresentation(craft(takeApart(token), newKey().privateKey), options);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SealError);
      const err = e as SealError;
      expect(err.message).toBe('signature verification failed');
      expect(err.detail).toContain('MK#2024-01-01-1');
    }
  });
});

function hashOf(encoded: string): string {
  return hash('sha256', encoded, 'base64url');
}
