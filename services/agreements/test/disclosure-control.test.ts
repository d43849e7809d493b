import { describe, expect, it } from 'vitest';

import { parseAgreementBody, type AggregateTerm } from '../src/index.js';
import { agreementError, body } from './fixtures.js';

const aggregateTerm = (extra: Record<string, unknown>) => ({
  types: ['smuggling.incident'],
  mode: 'aggregate',
  dimensions: ['routeSegment'],
  period: 'month',
  retentionDays: 30,
  ...extra,
});

describe('an aggregate term with rounding and noise', () => {
  it('keeps rounding and noise when given, and leaves them out when not', () => {
    const parsed = parseAgreementBody(
      body({ terms: [aggregateTerm({ rounding: 5, noise: 'cell-key' }), aggregateTerm({})] }),
    );
    const [withBoth, plain] = parsed.terms as AggregateTerm[];
    expect(withBoth).toMatchObject({ rounding: 5, noise: 'cell-key', minCell: 5 });
    expect(plain).not.toHaveProperty('rounding');
    expect(plain).not.toHaveProperty('noise');
  });

  it('refuses a rounding below 2, another noise, and either in a records term', () => {
    for (const bad of [
      aggregateTerm({ rounding: 1 }),
      aggregateTerm({ rounding: 2.5 }),
      aggregateTerm({ noise: 'laplace' }),
      {
        types: ['crossing.irregular'],
        mode: 'records',
        fields: ['routeSegment'],
        retentionDays: 30,
        rounding: 5,
      },
    ]) {
      expect(agreementError(() => parseAgreementBody(body({ terms: [bad] }))).code).toBe(
        'MALFORMED_AGREEMENT',
      );
    }
  });
});
