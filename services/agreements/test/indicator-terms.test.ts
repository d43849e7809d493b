import { describe, expect, it } from 'vitest';

import { isDimension, isWhereField, parseAgreementBody } from '../src/index.js';
import { agreementError, body, recordsTerm } from './fixtures.js';

const INDICATORS = ['entry.refusal', 'stay.illegal', 'document.fraud'];

describe('agreements on the WB-RAN indicator types', () => {
  it('accepts a monthly aggregate of the three indicator types by person citizenship', () => {
    const term = {
      types: INDICATORS,
      mode: 'aggregate',
      dimensions: ['person.citizenship'],
      period: 'month',
      retentionDays: 365,
    };
    expect(parseAgreementBody(body({ terms: [term] })).terms[0]).toMatchObject({ types: INDICATORS });
  });

  it('counts each indicator by its own categorical fields, and crossings by crossingPoint', () => {
    expect(isDimension('crossing.irregular', 'crossingPoint')).toBe(true);
    expect(isDimension('entry.refusal', 'borderType')).toBe(true);
    expect(isDimension('entry.refusal', 'ground')).toBe(true);
    expect(isDimension('stay.illegal', 'detectedOn')).toBe(true);
    expect(isDimension('stay.illegal', 'stayBasis')).toBe(true);
    expect(isDimension('stay.illegal', 'borderSection')).toBe(true);
    for (const f of ['documentType', 'fraudType', 'documentCountry', 'direction']) {
      expect(isDimension('document.fraud', f)).toBe(true);
    }
    expect(isDimension('entry.refusal', 'person.subjectRef')).toBe(false);
    expect(isDimension('entry.refusal', 'documentCountry')).toBe(false);
  });

  it('refuses a dimension one of the term types lacks, naming the types', () => {
    const term = {
      types: ['entry.refusal', 'document.fraud'],
      mode: 'aggregate',
      dimensions: ['borderType', 'ground'],
      period: 'month',
      retentionDays: 365,
    };
    const e = agreementError(() => parseAgreementBody(body({ terms: [term] })));
    expect(e.code).toBe('UNKNOWN_PATH');
    expect(e.issues.map((i) => [i.path, i.message])).toEqual([
      ['terms[0].dimensions[1]', 'ground is not a dimension of document.fraud'],
    ]);
  });

  it('checks a where-condition on crossingPoint against its codes', () => {
    expect(isWhereField('crossing.irregular', 'crossingPoint')).toBe(true);
    const bad = { crossingPoint: ['green-border'] };
    const e = agreementError(() => parseAgreementBody(body({ terms: [recordsTerm({ where: bad })] })));
    expect(e.issues.map(({ path, code }) => ({ path, code }))).toEqual([
      { path: 'terms[0].where.crossingPoint[0]', code: 'MALFORMED_AGREEMENT' },
    ]);
    const ok = { crossingPoint: ['at-bcp'] };
    expect(parseAgreementBody(body({ terms: [recordsTerm({ where: ok })] })).terms[0]?.where).toEqual(ok);
  });
});
