import { describe, expect, it } from 'vitest';

import { validateDisclosedClaims } from '../src/index.js';

describe('validateDisclosedClaims', () => {
  it('reports names of built-in object properties as unknown fields instead of throwing', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(validateDisclosedClaims('crossing.irregular', { [name]: 'x' })).toEqual([
        expect.objectContaining({ path: name, code: 'UNKNOWN_FIELD' }),
      ]);
      expect(validateDisclosedClaims('crossing.irregular', { persons: [{ [name]: 'x' }] })).toEqual([
        expect.objectContaining({ path: `persons[0].${name}`, code: 'UNKNOWN_FIELD' }),
      ]);
    }
  });

  it('accepts a valid subset and names the field of a bad value', () => {
    expect(
      validateDisclosedClaims('crossing.irregular', {
        routeSegment: 'GR-MK',
        persons: [{ citizenship: 'SYR' }],
      }),
    ).toEqual([]);
    expect(validateDisclosedClaims('crossing.irregular', { persons: [{ citizenship: 'ZZZ' }] })).toEqual([
      expect.objectContaining({ path: 'persons[0].citizenship' }),
    ]);
  });
});
