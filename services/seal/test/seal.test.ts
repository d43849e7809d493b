import { describe, expect, it } from 'vitest';

import { EVENT_TYPES, SOURCE_EVENT_TYPES } from '@wbx/schema';

import { createSealer, disclose, readOwnSealedEvent, SealError, verifyPresentation } from '../src/index.js';
import {
  decodePart,
  events,
  firstOfType,
  KID,
  manifestFor,
  newKey,
  NOW,
  sealer,
  takeApart,
} from './support.js';

const key = newKey();
const manifest = manifestFor([{ member: 'MK', key }]);
const all = events('MK', 1500);

function eventClaims(e: (typeof all)[number]): Record<string, unknown> {
  const body = Object.entries(e).find(
    ([k]) => !['eventId', 'origin', 'type', 'schemaVersion', 'occurredAt', 'recordedAt'].includes(k),
  );
  const fields = Object.fromEntries(
    Object.entries((body?.[1] ?? {}) as object).filter(([, v]) => v !== undefined),
  );
  return {
    iss: e.origin,
    jti: e.eventId,
    wbx_type: e.type,
    wbx_v: e.schemaVersion,
    occurredAt: e.occurredAt,
    recordedAt: e.recordedAt,
    ...fields,
  };
}

describe('seal', () => {
  it('has generated events of every source type to work with', () => {
    expect(new Set(all.map((e) => e.type))).toEqual(new Set(SOURCE_EVENT_TYPES));
    expect(EVENT_TYPES).toContain('stats.aggregate');
  });

  it.each(SOURCE_EVENT_TYPES)('seals a %s event that verifies with every field intact', (type) => {
    const event = firstOfType(all, type);
    const token = sealer(key).seal(event, { now: NOW });
    const verified = verifyPresentation(token, { manifest, now: NOW });
    const { iat, ...claims } = verified.claims;
    expect(iat).toBe(Math.floor(NOW.getTime() / 1000));
    expect(claims).toEqual(eventClaims(event));
    expect(verified.kid).toBe(KID);
  });

  it('writes the WBX profile: EdDSA, typ, kid; only the always-visible claims in clear; every field a disclosure', () => {
    const event = firstOfType(all, 'crossing.irregular');
    const token = sealer(key).seal(event, { now: NOW });
    const { header, payload, disclosures } = takeApart(token);
    expect(header).toEqual({ alg: 'EdDSA', typ: 'wbx-event+sd-jwt', kid: KID });
    expect(Object.keys(payload).sort()).toEqual(['_sd', '_sd_alg', 'iat', 'iss', 'jti', 'wbx_type', 'wbx_v']);
    expect(payload._sd_alg).toBe('sha-256');
    const names = disclosures.map((d) => (decodePart(d) as unknown[])[1]);
    const persons = event.crossingIrregular?.persons ?? [];
    const personAttrs = persons.reduce(
      (n, p) => n + Object.values(p as Record<string, unknown>).filter((v) => v !== undefined).length,
      0,
    );
    const fields = Object.values((event.crossingIrregular ?? {}) as Record<string, unknown>).filter(
      (v) => v !== undefined,
    ).length;
    expect(disclosures).toHaveLength(2 + fields + personAttrs);
    expect(names).toContain('citizenship');
    expect(names).toContain('routeSegment');
    // decoys: more digests than disclosures at the top level
    expect((payload._sd as string[]).length).toBeGreaterThan(2 + fields);
  });

  it('uses a fresh salt of at least 128 bits for every disclosure', () => {
    const event = firstOfType(all, 'asylum.application');
    const salts = [sealer(key).seal(event), sealer(key).seal(event)]
      .flatMap((t) => takeApart(t).disclosures)
      .map((d) => (decodePart(d) as string[])[0] ?? '');
    expect(new Set(salts).size).toBe(salts.length);
    for (const s of salts) expect(Buffer.from(s, 'base64url').length).toBeGreaterThanOrEqual(16);
  });

  it('refuses to seal for another origin or with a kid of another partner', () => {
    const rs = firstOfType(events('RS', 20), 'crossing.irregular');
    expect(() => sealer(key).seal(rs)).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }));
    expect(() => createSealer({ issuer: 'RS', kid: KID, privateKey: key.privateKey })).toThrow(SealError);
    expect(() => createSealer({ issuer: 'MK', kid: KID, privateKey: key.publicKey })).toThrow(SealError);
  });
});

describe('disclose', () => {
  const event = firstOfType(all, 'crossing.irregular');
  const token = sealer(key).seal(event, { now: NOW });

  it('keeps exactly routeSegment and each person citizenship, and never re-signs', () => {
    const presentation = disclose(token, ['routeSegment', 'persons.citizenship']);
    expect(presentation.split('~')[0]).toBe(token.split('~')[0]);
    const verified = verifyPresentation(presentation, { manifest, now: NOW });
    expect(verified.disclosed).toEqual(['persons', 'persons.citizenship', 'routeSegment']);
    const persons = event.crossingIrregular?.persons ?? [];
    expect(verified.claims.persons).toEqual(persons.map((p) => ({ citizenship: p.citizenship })));
    expect(verified.claims).not.toHaveProperty('borderSection');
    for (const p of persons) if (p.subjectRef !== undefined) expect(presentation).not.toContain(p.subjectRef);
  });

  it('discloses a whole field with everything nested in it when the field is named', () => {
    const verified = verifyPresentation(disclose(token, ['persons']), { manifest, now: NOW });
    expect(verified.claims.persons).toEqual(event.crossingIrregular?.persons.map((p) => ({ ...p })));
  });

  it('discloses nothing but the always-visible claims for an empty list', () => {
    const presentation = disclose(token, []);
    expect(presentation).toBe(`${token.split('~')[0] ?? ''}~`);
    expect(Object.keys(verifyPresentation(presentation, { manifest, now: NOW }).claims).sort()).toEqual([
      'iat',
      'iss',
      'jti',
      'wbx_type',
      'wbx_v',
    ]);
  });

  it('can narrow a presentation further, but never widen it', () => {
    const narrow = disclose(disclose(token, ['routeSegment', 'direction']), [
      'routeSegment',
      'borderSection',
    ]);
    expect(verifyPresentation(narrow, { manifest, now: NOW }).disclosed).toEqual(['routeSegment']);
  });
});

describe('seal (size)', () => {
  it('keeps the largest crossing report the schema allows (60 persons) under the 64 KiB cap', () => {
    const base = firstOfType(all, 'crossing.irregular');
    const body = base.crossingIrregular!;
    const person = (i: number) => ({
      subjectRef: i.toString(16).padStart(64, 'f'),
      citizenship: 'SYR',
      sex: 'M' as const,
      ageBand: '18-34' as const,
      unaccompaniedMinor: false,
    });
    const big = {
      ...base,
      crossingIrregular: { ...body, persons: Array.from({ length: 60 }, (_, i) => person(i)) },
    };
    const token = sealer(key).seal(big, { now: NOW });
    expect(Buffer.byteLength(token)).toBeLessThan(64 * 1024);
    expect(verifyPresentation(token, { manifest, now: NOW }).claims.persons).toHaveLength(60);
  });
});

describe('readOwnSealedEvent', () => {
  it('reads back every claim of a sealed event without a manifest', () => {
    const event = firstOfType(all, 'crossing.irregular');
    const token = sealer(key).seal(event, { now: NOW });
    expect(readOwnSealedEvent(token).claims).toEqual(
      verifyPresentation(token, { manifest, now: NOW }).claims,
    );
  });

  it('still refuses a disclosure that no digest references', () => {
    const token = sealer(key).seal(firstOfType(all, 'asylum.decision'), { now: NOW });
    const other = sealer(key).seal(firstOfType(all, 'return.decision'), { now: NOW });
    const stray = other.split('~')[1] ?? '';
    expect(() => readOwnSealedEvent(`${token}${stray}~`)).toThrow(
      expect.objectContaining({ code: 'UNREFERENCED_DISCLOSURE' }),
    );
  });
});
