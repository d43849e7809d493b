import { describe, expect, it } from 'vitest';

import { createManifest, decodeManifest, parseManifestBody, type ManifestBody } from '../src/index.js';
import { body, registryError, testMember } from './fixtures.js';

const mk = testMember('MK');
const rs = testMember('RS');
const al = testMember('AL');
const valid = body([mk, rs, al]);

/** A deep, mutable copy for breaking things. */
const copy = (b: ManifestBody): Record<string, unknown> & { members: Record<string, unknown>[] } =>
  JSON.parse(JSON.stringify(b)) as Record<string, unknown> & { members: Record<string, unknown>[] };

const firstKey = (m: Record<string, unknown>): Record<string, unknown> =>
  (m.signingKeys as Record<string, unknown>[])[0]!;

describe('parseManifestBody', () => {
  it('accepts a valid body and returns it frozen', () => {
    const parsed = parseManifestBody(valid);
    expect(parsed).toEqual(valid);
    expect(Object.isFrozen(parsed.members[0]!.signingKeys[0]!.jwk)).toBe(true);
  });

  it('accepts optional endpoints and fingerprints in their forms', () => {
    const b = copy(valid);
    Object.assign(b.members[0]!, {
      nats: 'tls://nats.mk.example:4222',
      grpc: 'gw.mk.example:8443',
      tlsCertSha256: ['a'.repeat(64)],
    });
    expect(parseManifestBody(b).members[0]!.grpc).toBe('gw.mk.example:8443');
  });

  it('rejects private key material (d) with the path of d', () => {
    const b = copy(valid);
    (firstKey(b.members[1]!).jwk as Record<string, unknown>).d = mk.key.privateJwk.d;
    const e = registryError(() => parseManifestBody(b));
    expect(e.code).toBe('MALFORMED_MANIFEST');
    expect(e.details.join('\n')).toContain('members[1].signingKeys[0].jwk.d');
  });

  it('rejects duplicate member ids and duplicate kids, naming each path', () => {
    const b = copy(valid);
    b.members[2] = JSON.parse(JSON.stringify(b.members[0])) as Record<string, unknown>;
    const e = registryError(() => parseManifestBody(b));
    expect(e.code).toBe('MALFORMED_MANIFEST');
    expect(e.details.some((d) => d.startsWith('members[2].id:'))).toBe(true);
    expect(e.details.some((d) => d.startsWith('members[2].signingKeys[0].kid:'))).toBe(true);
  });

  it.each([
    ['MK-2026-01-05-1', 'no #'],
    ['MK#2026-02-30-1', 'impossible date'],
    ['MK#2026-01-05-0', 'n = 0'],
    ['MK#2026-01-05', 'no n'],
    ['RS#2026-01-05-1', 'another member'],
  ])('rejects kid %s (%s) with its path', (kid) => {
    const b = copy(valid);
    firstKey(b.members[0]!).kid = kid;
    const e = registryError(() => parseManifestBody(b));
    expect(e.code).toBe('MALFORMED_MANIFEST');
    expect(e.details.some((d) => d.startsWith('members[0].signingKeys[0].kid:'))).toBe(true);
  });

  it('rejects a threshold above the number of members', () => {
    const e = registryError(() => parseManifestBody({ ...valid, threshold: 4 }));
    expect(e.code).toBe('MALFORMED_MANIFEST');
    expect(e.details.some((d) => d.startsWith('threshold:'))).toBe(true);
  });

  it('lists every issue of a badly broken body', () => {
    const b = copy(valid);
    b.version = 0;
    b.issuedAt = '2026-01-10 00:00';
    Object.assign(b.members[0]!, { id: 'ZZ', roles: ['origin', 'admin'], nats: 'http://x', grpc: 'host' });
    Object.assign(b.members[1]!, { name: 'x'.repeat(129), tlsCertSha256: ['A'.repeat(64)], extra: 1 });
    Object.assign(firstKey(b.members[2]!), {
      notBefore: '2026-01-02T00:00:00Z',
      notAfter: '2026-01-01T00:00:00Z',
    });
    const e = registryError(() => parseManifestBody(b));
    expect(e.code).toBe('MALFORMED_MANIFEST');
    const paths = e.details.map((d) => d.slice(0, d.indexOf(':')));
    expect(paths).toEqual(
      expect.arrayContaining([
        'version',
        'issuedAt',
        'members[0].id',
        'members[0].roles[1]',
        'members[0].nats',
        'members[0].grpc',
        'members[1].name',
        'members[1].tlsCertSha256[0]',
        'members[1]',
        'members[2].signingKeys[0].notAfter',
      ]),
    );
  });

  it('rejects a body without members', () => {
    expect(registryError(() => parseManifestBody({ ...valid, members: [], threshold: 1 })).code).toBe(
      'MALFORMED_MANIFEST',
    );
  });
});

describe('createManifest / decodeManifest', () => {
  it('round-trips the body with no signatures', () => {
    const signed = createManifest(valid);
    expect(signed.signatures).toEqual([]);
    expect(decodeManifest(signed)).toEqual(valid);
    const json = JSON.parse(Buffer.from(signed.payload, 'base64url').toString('utf8')) as ManifestBody;
    expect(json.version).toBe(1);
  });

  it('refuses to create a manifest from a malformed body', () => {
    expect(registryError(() => createManifest({ ...valid, threshold: 0 })).code).toBe('MALFORMED_MANIFEST');
  });

  it.each([
    ['a payload that is not base64url', { payload: 'e30=', signatures: [] }],
    ['a payload that is not JSON', { payload: Buffer.from('{').toString('base64url'), signatures: [] }],
    [
      'an unprotected header',
      { ...createManifest(valid), signatures: [{ protected: 'e30', signature: 'AA', header: {} }] },
    ],
    ['no signatures array', { payload: createManifest(valid).payload }],
  ])('rejects %s as MALFORMED_MANIFEST', (_, input) => {
    expect(registryError(() => decodeManifest(input as never)).code).toBe('MALFORMED_MANIFEST');
  });
});
