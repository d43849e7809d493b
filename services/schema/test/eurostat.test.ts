import { describe, expect, it } from 'vitest';

import {
  ALPHA2_TO_ALPHA3,
  ALPHA3_CODES,
  citizenshipFromEurostat,
  EUROSTAT_BORDER_TYPES,
  eurostatCitizen,
  isCitizenship,
  REFUSAL_GROUND_LETTERS,
  REFUSAL_GROUNDS,
  BORDER_TYPES,
  STATELESS_CITIZENSHIP,
  UNKNOWN_CITIZENSHIP,
} from '../src/index.js';

describe('eurostatCitizen', () => {
  it('maps an ISO 3166-1 alpha-3 citizenship to its alpha-2 code', () => {
    expect(eurostatCitizen('SYR')).toBe('SY');
    expect(eurostatCitizen('AFG')).toBe('AF');
    expect(eurostatCitizen('TUR')).toBe('TR');
    expect(eurostatCitizen('MKD')).toBe('MK');
  });

  it("follows Eurostat's own codes for Greece, the United Kingdom and Kosovo", () => {
    expect(eurostatCitizen('GRC')).toBe('EL');
    expect(eurostatCitizen('GBR')).toBe('UK');
    expect(eurostatCitizen('XKX')).toBe('XK');
  });

  it('keeps stateless (STLS) and unknown (UNK) apart', () => {
    expect(eurostatCitizen(STATELESS_CITIZENSHIP)).toBe('STLS');
    expect(eurostatCitizen(UNKNOWN_CITIZENSHIP)).toBe('UNK');
  });

  it('gives nothing for a code WBX does not know', () => {
    expect(eurostatCitizen('SY')).toBeUndefined();
    expect(eurostatCitizen('STLS')).toBeUndefined();
    expect(eurostatCitizen('QQQ')).toBeUndefined();
  });

  it('maps every citizenship WBX accepts to a distinct Eurostat code, and back', () => {
    const citizenships = [...ALPHA3_CODES, STATELESS_CITIZENSHIP, UNKNOWN_CITIZENSHIP];
    expect(citizenships.every(isCitizenship)).toBe(true);
    const codes = citizenships.map((c) => eurostatCitizen(c));
    expect(codes.every((c) => c !== undefined)).toBe(true);
    expect(new Set(codes).size).toBe(citizenships.length);
    for (const c of citizenships) expect(citizenshipFromEurostat(eurostatCitizen(c) ?? '')).toBe(c);
  });

  it('does not read GR, GB or XKX as Eurostat citizen codes', () => {
    expect(ALPHA2_TO_ALPHA3.get('GR')).toBe('GRC');
    expect(citizenshipFromEurostat('GR')).toBe('GRC');
    expect(citizenshipFromEurostat('EL')).toBe('GRC');
    expect(citizenshipFromEurostat('XKX')).toBeUndefined();
  });
});

describe('refusal crosswalk', () => {
  it('maps the refusal grounds to the Annex V Part B letters A to I in order', () => {
    expect(REFUSAL_GROUNDS.map((g) => REFUSAL_GROUND_LETTERS[g])).toEqual([
      'A',
      'B',
      'C',
      'D',
      'E',
      'F',
      'G',
      'H',
      'I',
    ]);
    expect(REFUSAL_GROUND_LETTERS['false-document']).toBe('B');
  });

  it('maps every border type', () => {
    expect(BORDER_TYPES.map((b) => EUROSTAT_BORDER_TYPES[b])).toEqual(['LAND', 'SEA', 'AIR']);
  });
});
