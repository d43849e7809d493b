import { generateKeyPairSync } from 'node:crypto';

import { flattenedVerify } from 'jose';
import { describe, expect, it } from 'vitest';

import {
  decodeBase64url,
  encodeBase64url,
  generalJwsSchema,
  jsonFromBase64url,
  parseProtectedHeader,
  signJws,
  verifyJws,
} from '../src/index.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const payload = encodeBase64url(JSON.stringify({ id: 'doc-1', n: 1 }));
const header = (h: unknown): string => encodeBase64url(JSON.stringify(h));

describe('base64url', () => {
  it('decodes only canonical base64url without padding', () => {
    expect(decodeBase64url('AQID')?.toString('hex')).toBe('010203');
    for (const bad of ['AQID=', 'AQI+', 'A', 'AR']) expect(decodeBase64url(bad)).toBeUndefined();
    expect(jsonFromBase64url(encodeBase64url('{"a":1}'))).toEqual({ a: 1 });
    expect(jsonFromBase64url(encodeBase64url('{a'))).toBeUndefined();
  });
});

describe('signJws / verifyJws', () => {
  it('signs a JWS that jose verifies, and verifies its own signature', async () => {
    const s = await signJws(
      payload,
      { typ: 'wbx-test+jws', kid: 'MK#2026-01-05-1', iat: 1_767_571_200 },
      privateKey,
    );
    expect(jsonFromBase64url(s.protected)).toEqual({
      alg: 'EdDSA',
      typ: 'wbx-test+jws',
      kid: 'MK#2026-01-05-1',
      iat: 1_767_571_200,
    });
    expect(verifyJws(payload, s, publicKey)).toBe('VALID');
    const jose = await flattenedVerify({ payload, ...s }, publicKey);
    expect(jose.protectedHeader?.typ).toBe('wbx-test+jws');
    expect(generalJwsSchema.safeParse({ payload, signatures: [s] }).success).toBe(true);
  });

  it('tells a signature that does not verify from one that is not an Ed25519 signature at all', async () => {
    const s = await signJws(payload, { typ: 'wbx-test+jws', kid: 'MK#1' }, privateKey);
    expect(verifyJws(payload, s, other.publicKey)).toBe('INVALID');
    expect(verifyJws(encodeBase64url('{}'), s, publicKey)).toBe('INVALID');
    expect(verifyJws(payload, { ...s, signature: s.signature.slice(0, 40) }, publicKey)).toBe('MALFORMED');
    expect(verifyJws(payload, { ...s, signature: `${s.signature}=` }, publicKey)).toBe('MALFORMED');
  });
});

describe('parseProtectedHeader', () => {
  const profile = { typ: 'wbx-test+jws' };
  it('accepts exactly alg, typ and kid (and iat where the profile has it)', () => {
    const h = { alg: 'EdDSA', typ: 'wbx-test+jws', kid: 'MK#1' };
    expect(parseProtectedHeader(header(h), profile)).toEqual({ ok: true, header: h });
    const withIat = { ...h, iat: 1_700_000_000 };
    expect(parseProtectedHeader(header(withIat), { ...profile, iat: true })).toEqual({
      ok: true,
      header: withIat,
    });
    expect(parseProtectedHeader(header(h), { ...profile, iat: true })).toEqual({ ok: true, header: h });
  });

  it.each([
    ['not base64url', 'e30=', 'not base64url of JSON'],
    ['not JSON', encodeBase64url('{'), 'not base64url of JSON'],
    ['an array', header([]), 'not an object'],
    ['another alg', header({ alg: 'ES256', typ: 'wbx-test+jws', kid: 'k' }), 'alg must be EdDSA'],
    ['another typ', header({ alg: 'EdDSA', typ: 'JWT', kid: 'k' }), 'typ must be wbx-test+jws'],
    ['no kid', header({ alg: 'EdDSA', typ: 'wbx-test+jws' }), 'kid missing'],
    [
      'iat where the profile has none',
      header({ alg: 'EdDSA', typ: 'wbx-test+jws', kid: 'k', iat: 1 }),
      'unexpected header parameters: iat',
    ],
    [
      'crit',
      header({ alg: 'EdDSA', typ: 'wbx-test+jws', kid: 'k', crit: ['b64'] }),
      'unexpected header parameters: crit',
    ],
  ])('refuses a header that is %s', (_, encoded, reason) => {
    expect(parseProtectedHeader(encoded, profile)).toEqual({ ok: false, reason });
  });

  it.each([[-1], [1.5], ['1700000000'], [253_402_300_800]])('refuses iat %j', (iat) => {
    const encoded = header({ alg: 'EdDSA', typ: 'wbx-test+jws', kid: 'k', iat });
    expect(parseProtectedHeader(encoded, { ...profile, iat: true })).toEqual({
      ok: false,
      reason: 'iat must be whole seconds since the epoch',
    });
  });
});
