import { generateKeyPairSync } from 'node:crypto';

import { validateEvent } from '@wbx/schema';
import { createDisclosure, createSealer, holdToken } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { OwnPresenter, parseOwnToken } from '../../src/exchange/own-presenter.js';
import { subjectRefsOf } from '../../src/exchange/pseudonyms.js';

const NOW = new Date();
const sealer = createSealer({
  issuer: 'MK',
  kid: 'MK#own-presenter-test',
  privateKey: generateKeyPairSync('ed25519').privateKey,
});
const TOKENS = [
  ...generateEvents({
    partner: 'MK',
    count: 300,
    seed: 'own-presenter',
    from: new Date('2024-01-01'),
    to: new Date('2024-02-01'),
  }),
]
  .map((e) => validateEvent(JSON.parse(JSON.stringify(e)) as unknown, { now: NOW }))
  .flatMap((r) => (r.ok ? [sealer.seal(r.event, { now: NOW })] : []));

/** Every disclosure name of the tokens (top level and nested), and the paths made of them. */
const NAMES = [
  ...new Set(
    TOKENS.flatMap((t) =>
      t
        .split('~')
        .slice(1, -1)
        .map((d) => (JSON.parse(Buffer.from(d, 'base64url').toString('utf8')) as string[])[1] ?? ''),
    ),
  ),
];
const PATHS = [
  ...NAMES,
  ...NAMES.flatMap((n) => [`persons.${n}`, `person.${n}`]),
  'persons',
  'person',
  'missing',
];

/** A disclosure as WBX seals them, whole base64url quads (the salt grown until it is). */
function disclosure(name: string, value: unknown): string {
  for (let salt = 'c2FsdHNhbHRzYWx0'; ; salt += 'A') {
    const { encoded } = createDisclosure(salt, name, value);
    if (encoded.length % 4 === 0) return encoded;
  }
}

const replaceDisclosures = (token: string, f: (ds: string[]) => string[]): string => {
  const [jwt = '', ...rest] = token.split('~');
  return `${jwt}~${f(rest.slice(0, -1))
    .map((d) => `${d}~`)
    .join('')}`;
};

/** Changes a token the way a corrupted store might, keeping it one holdToken accepts. */
const MUTATIONS: readonly ((token: string, other: string) => string)[] = [
  (t) => t,
  // Disclosures dropped, reordered, repeated.
  (t) => replaceDisclosures(t, (ds) => ds.filter((_, i) => i % 2 === 0)),
  (t) => replaceDisclosures(t, (ds) => [...ds].reverse()),
  (t) => replaceDisclosures(t, (ds) => [...ds, ...ds.slice(0, 3)]),
  // Disclosures of another event: their digests are not in this payload.
  (t, o) => replaceDisclosures(t, (ds) => [...ds, ...o.split('~').slice(1, -1)]),
  // Stray disclosures no digest lists, named as granted fields and attributes.
  (t) =>
    replaceDisclosures(t, (ds) => [
      ...ds,
      ...['occurredAt', 'routeSegment', 'citizenship', 'subjectRef', 'persons'].map((name) =>
        disclosure(name, name === 'persons' ? [{ subjectRef: 'f'.repeat(64) }] : 'x'),
      ),
    ]),
];

describe('OwnPresenter', () => {
  it('presents, reads claims and subject references as holdToken does', () => {
    fc.assert(
      fc.property(
        fc.nat(TOKENS.length - 1),
        fc.nat(TOKENS.length - 1),
        fc.nat(MUTATIONS.length - 1),
        fc.subarray(PATHS),
        fc.subarray(NAMES, { maxLength: 4 }),
        (i, j, k, paths, claimNames) => {
          const token = (MUTATIONS[k] as (t: string, o: string) => string)(
            TOKENS[i] as string,
            TOKENS[j] as string,
          );
          const held = holdToken(token, Number.MAX_SAFE_INTEGER);
          const own = parseOwnToken(token);
          expect(own).toBeDefined();
          if (own === undefined) return;
          expect([own.eventId, own.type]).toEqual([held.eventId, held.type]);
          const prepared = new OwnPresenter(paths, claimNames).prepare(own);
          expect(prepared).toBeDefined();
          if (prepared === undefined) return;
          expect(prepared.presentation()).toBe(held.present(paths));
          expect(prepared.subjectRefs()).toEqual(subjectRefsOf(held.claims));
          for (const name of claimNames) {
            expect(Object.hasOwn(prepared.claims, name)).toBe(Object.hasOwn(held.claims, name));
            const value = held.claims[name];
            // Conditions and bounds compare primitives only: objects are not resolved further.
            if (value === null || typeof value !== 'object') expect(prepared.claims[name]).toBe(value);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('leaves an unusual token to holdToken', () => {
    const token = TOKENS[0] as string;
    const [jwt = ''] = token.split('~');
    const escaped = disclosure('occurred\\u0041t', 'x');
    for (const bad of [
      `${token}${escaped}~`, // a name with an escape
      `${token}abc~`, // a disclosure not of whole base64url quads
      `${token}ab=c~`, // …or not base64url
      `${token}eyJ`, // a reference-binding slot that holds no JWS
      `${jwt.replace('.', '.!')}~`, // a payload not base64url
      `${token}${Buffer.from('["s", "ë", 1]').toString('base64url')}~`, // not ASCII
    ]) {
      const own = parseOwnToken(bad);
      expect(own === undefined || new OwnPresenter(['occurredAt']).prepare(own) === undefined).toBe(true);
    }
  });

  it('does not present a kept name whose disclosure the payload does not list', () => {
    const token = TOKENS.find((t) => holdToken(t).type === 'crossing.irregular') as string;
    const stray = disclosure('direction', 'exit');
    const own = parseOwnToken(`${token}${stray}~`);
    const presented =
      own === undefined ? '' : (new OwnPresenter(['direction']).prepare(own)?.presentation() ?? '');
    expect(presented).toContain('~');
    expect(presented).not.toContain(stray);
    expect(presented).toBe(holdToken(token).present(['direction']));
  });
});
