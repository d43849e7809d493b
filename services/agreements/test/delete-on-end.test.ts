import { describe, expect, it } from 'vitest';

import { decodeAgreement, draftAgreement, parseAgreementBody } from '../src/index.js';
import { agreementError, body } from './fixtures.js';

describe('deleteOnEnd', () => {
  it('keeps deleteOnEnd true or false through parsing and a signed document', () => {
    expect(parseAgreementBody({ ...body(), deleteOnEnd: true }).deleteOnEnd).toBe(true);
    expect(parseAgreementBody({ ...body(), deleteOnEnd: false }).deleteOnEnd).toBe(false);
    expect(decodeAgreement(draftAgreement({ ...body(), deleteOnEnd: true })).deleteOnEnd).toBe(true);
  });

  it('leaves it out of an agreement that does not set it (older agreements read as before)', () => {
    expect(Object.hasOwn(parseAgreementBody(body()), 'deleteOnEnd')).toBe(false);
  });

  it('refuses a deleteOnEnd that is not a boolean, with its path', () => {
    const e = agreementError(() => parseAgreementBody({ ...body(), deleteOnEnd: 'yes' }));
    expect(e.code).toBe('MALFORMED_AGREEMENT');
    expect(e.issues.map((i) => i.path)).toEqual(['deleteOnEnd']);
  });
});
