import { describe, expect, it } from 'vitest';

import { decodeAgreement, draftAgreement, parseAgreementBody, parseAgreementYaml } from '../src/index.js';
import { agreementError, body, recordsTerm } from './fixtures.js';

const issuesOf = (input: unknown): { path: string; code: string }[] =>
  agreementError(() => parseAgreementBody(input)).issues.map(({ path, code }) => ({ path, code }));

describe('parseAgreementBody', () => {
  it('accepts a valid body and fills in minCell 5 for aggregate terms', () => {
    const parsed = parseAgreementBody(body());
    expect(parsed.terms[1]).toEqual({
      types: ['asylum.application'],
      mode: 'aggregate',
      dimensions: ['person.citizenship'],
      period: 'month',
      minCell: 5,
      retentionDays: 365,
    });
    expect(Object.isFrozen(parsed.terms)).toBe(true);
  });

  it('reports every error of a malformed body with its path, not only the first', () => {
    const e = agreementError(() =>
      parseAgreementBody({
        id: 'no spaces allowed',
        provider: 'MK',
        recipient: 'MK',
        purposes: ['border-management', 'surveillance'],
        legalBasis: 'x'.repeat(501),
        validFrom: '2026-02-01',
        validUntil: '2026-01-01T00:00:00Z',
        terms: [
          { types: ['crossing.irregular', 'stats.aggregate'], mode: 'records', retentionDays: 0, extra: 1 },
        ],
        notes: 'unknown field',
      }),
    );
    expect(e.code).toBe('MALFORMED_AGREEMENT');
    expect(e.issues.map((i) => i.path).sort()).toEqual(
      [
        'id',
        'legalBasis',
        'notes',
        'purposes[1]',
        'recipient',
        'terms[0].extra',
        'terms[0].fields',
        'terms[0].retentionDays',
        'terms[0].types[1]',
        'validFrom',
      ].sort(),
    );
    expect(e.details.every((d) => /^[\w[\].]+: \S/.test(d))).toBe(true);
  });

  it('says required for a missing field', () => {
    const { terms: _terms, ...rest } = body();
    const e = agreementError(() => parseAgreementBody(rest));
    expect(e.issues).toEqual([{ path: 'terms', code: 'MALFORMED_AGREEMENT', message: 'required' }]);
  });

  it('refuses validUntil at or before validFrom', () => {
    expect(issuesOf(body({ validUntil: '2026-02-01T00:00:00Z' }))).toEqual([
      { path: 'validUntil', code: 'MALFORMED_AGREEMENT' },
    ]);
  });

  it('refuses an empty purpose list, duplicates, and a purpose outside the closed list', () => {
    expect(issuesOf(body({ purposes: [] }))).toEqual([{ path: 'purposes', code: 'MALFORMED_AGREEMENT' }]);
    expect(issuesOf(body({ purposes: ['risk-analysis', 'risk-analysis'] }))).toEqual([
      { path: 'purposes[1]', code: 'MALFORMED_AGREEMENT' },
    ]);
    expect(issuesOf(body({ purposes: ['marketing'] }))).toEqual([
      { path: 'purposes[0]', code: 'MALFORMED_AGREEMENT' },
    ]);
  });

  it('refuses a term without types, with stats.aggregate, or with an unknown type', () => {
    expect(issuesOf(body({ terms: [recordsTerm({ types: [] })] }))).toEqual([
      { path: 'terms[0].types', code: 'MALFORMED_AGREEMENT' },
    ]);
    expect(issuesOf(body({ terms: [recordsTerm({ types: ['stats.aggregate'] })] }))).toEqual([
      { path: 'terms[0].types[0]', code: 'MALFORMED_AGREEMENT' },
    ]);
    expect(issuesOf(body({ terms: [recordsTerm({ types: ['crossing.regular'] })] }))).toEqual([
      { path: 'terms[0].types[0]', code: 'MALFORMED_AGREEMENT' },
    ]);
  });

  it('refuses an unknown field path with its path and code UNKNOWN_PATH', () => {
    const e = agreementError(() =>
      parseAgreementBody(
        body({ terms: [recordsTerm({ fields: ['routeSegment', 'persons.name', 'passportNo'] })] }),
      ),
    );
    expect(e.code).toBe('UNKNOWN_PATH');
    expect(e.issues).toEqual([
      {
        path: 'terms[0].fields[1]',
        code: 'UNKNOWN_PATH',
        message: 'persons.name is not a field of crossing.irregular',
      },
      {
        path: 'terms[0].fields[2]',
        code: 'UNKNOWN_PATH',
        message: 'passportNo is not a field of crossing.irregular',
      },
    ]);
  });

  it('accepts a field valid for at least one of the term types, persons.<attr> and person.<attr>', () => {
    const term = recordsTerm({
      types: ['crossing.irregular', 'asylum.application'],
      fields: ['recordedAt', 'routeSegment', 'persons.sex', 'person.citizenship', 'countryOfOrigin'],
    });
    expect(parseAgreementBody(body({ terms: [term] })).terms[0]).toMatchObject({ fields: term.fields });
  });

  it('refuses a records term without fields and aggregate settings in a records term', () => {
    const { fields: _f, ...noFields } = recordsTerm();
    expect(issuesOf(body({ terms: [{ ...noFields, period: 'day', minCell: 5 }] }))).toEqual([
      { path: 'terms[0].fields', code: 'MALFORMED_AGREEMENT' },
      { path: 'terms[0].period', code: 'MALFORMED_AGREEMENT' },
      { path: 'terms[0].minCell', code: 'MALFORMED_AGREEMENT' },
    ]);
  });

  it('refuses an aggregate term without dimensions or period, or with fields', () => {
    const term = {
      types: ['crossing.irregular'],
      mode: 'aggregate',
      fields: ['routeSegment'],
      retentionDays: 30,
    };
    expect(issuesOf(body({ terms: [term] }))).toEqual([
      { path: 'terms[0].dimensions', code: 'MALFORMED_AGREEMENT' },
      { path: 'terms[0].period', code: 'MALFORMED_AGREEMENT' },
      { path: 'terms[0].fields', code: 'MALFORMED_AGREEMENT' },
    ]);
  });

  it('refuses minCell below 3 and accepts 3', () => {
    const term = (minCell: number): unknown => ({
      types: ['crossing.irregular'],
      mode: 'aggregate',
      dimensions: ['routeSegment', 'persons.citizenship'],
      period: 'week',
      minCell,
      retentionDays: 30,
    });
    expect(issuesOf(body({ terms: [term(2)] }))).toEqual([
      { path: 'terms[0].minCell', code: 'MALFORMED_AGREEMENT' },
    ]);
    expect(issuesOf(body({ terms: [term(0)] }))).toEqual([
      { path: 'terms[0].minCell', code: 'MALFORMED_AGREEMENT' },
    ]);
    expect(parseAgreementBody(body({ terms: [term(3)] })).terms[0]).toMatchObject({ minCell: 3 });
  });

  it('refuses dimensions that are not categorical or that a term type lacks', () => {
    const term = {
      types: ['crossing.irregular', 'smuggling.incident'],
      mode: 'aggregate',
      dimensions: ['routeSegment', 'persons.subjectRef', 'caseRef', 'persons.sex'],
      period: 'day',
      retentionDays: 30,
    };
    const e = agreementError(() => parseAgreementBody(body({ terms: [term] })));
    expect(e.code).toBe('UNKNOWN_PATH');
    expect(e.issues.map((i) => [i.path, i.message])).toEqual([
      [
        'terms[0].dimensions[1]',
        'persons.subjectRef is not a dimension of crossing.irregular, smuggling.incident',
      ],
      ['terms[0].dimensions[2]', 'caseRef is not a dimension of crossing.irregular, smuggling.incident'],
      ['terms[0].dimensions[3]', 'persons.sex is not a dimension of smuggling.incident'],
    ]);
  });

  it('checks where-conditions: a categorical field of every type, values valid for the field', () => {
    const where = {
      routeSegment: ['GR-MK', 'XX-YY'],
      direction: ['inbound'],
      caseRef: ['C-1'],
      facilitatorSuspected: [true],
    };
    const e = agreementError(() => parseAgreementBody(body({ terms: [recordsTerm({ where })] })));
    expect(e.issues.map(({ path, code }) => ({ path, code }))).toEqual([
      { path: 'terms[0].where.routeSegment[1]', code: 'MALFORMED_AGREEMENT' },
      { path: 'terms[0].where.direction[0]', code: 'MALFORMED_AGREEMENT' },
      { path: 'terms[0].where.caseRef', code: 'UNKNOWN_PATH' },
    ]);
    const ok = { routeSegment: ['GR-MK', 'RS-MK'], facilitatorSuspected: [true] };
    expect(parseAgreementBody(body({ terms: [recordsTerm({ where: ok })] })).terms[0]?.where).toEqual(ok);
  });

  it('refuses retention outside 1..3650 days', () => {
    expect(issuesOf(body({ terms: [recordsTerm({ retentionDays: 3651 })] }))).toEqual([
      { path: 'terms[0].retentionDays', code: 'MALFORMED_AGREEMENT' },
    ]);
    expect(issuesOf(body({ terms: [recordsTerm({ retentionDays: 1.5 })] }))).toEqual([
      { path: 'terms[0].retentionDays', code: 'MALFORMED_AGREEMENT' },
    ]);
  });

  describe('readmission', () => {
    const purposes = ['return-readmission'];
    it('requires the answer period with the purpose return-readmission, and only with it', () => {
      expect(issuesOf(body({ purposes }))).toEqual([{ path: 'readmission', code: 'MALFORMED_AGREEMENT' }]);
      expect(issuesOf(body({ readmission: { answerWithinHours: 48 } }))).toEqual([
        { path: 'readmission', code: 'MALFORMED_AGREEMENT' },
      ]);
    });

    it('refuses an answer period outside 1..8760 hours or not whole, and keeps a valid one', () => {
      for (const answerWithinHours of [0, 8_761, 1.5, '48']) {
        expect(issuesOf(body({ purposes, readmission: { answerWithinHours } }))).toEqual([
          { path: 'readmission.answerWithinHours', code: 'MALFORMED_AGREEMENT' },
        ]);
      }
      const parsed = parseAgreementBody(body({ purposes, readmission: { answerWithinHours: 288 } }));
      expect(parsed.readmission).toEqual({ answerWithinHours: 288 });
    });
  });

  describe('special category', () => {
    const victims = (overrides: Record<string, unknown> = {}): unknown =>
      recordsTerm({
        types: ['trafficking.victim'],
        fields: ['exploitationType', 'person.ageBand'],
        ...overrides,
      });

    it('refuses trafficking.victim records without purpose victim-protection and specialCategory', () => {
      const e = agreementError(() => parseAgreementBody(body({ terms: [victims()] })));
      expect(e.code).toBe('SPECIAL_CATEGORY');
      expect(e.issues).toMatchObject([{ path: 'terms[0].types[0]', code: 'SPECIAL_CATEGORY' }]);
    });

    it('refuses them with specialCategory but without purpose victim-protection', () => {
      const e = agreementError(() =>
        parseAgreementBody(body({ terms: [victims({ specialCategory: true })] })),
      );
      expect(e.code).toBe('SPECIAL_CATEGORY');
    });

    it('refuses them with purpose victim-protection but without specialCategory: true', () => {
      const purposes = ['victim-protection'];
      const e = agreementError(() =>
        parseAgreementBody(body({ purposes, terms: [victims({ specialCategory: false })] })),
      );
      expect(e.code).toBe('SPECIAL_CATEGORY');
    });

    it('accepts them with purpose victim-protection and specialCategory: true', () => {
      const parsed = parseAgreementBody(
        body({ purposes: ['victim-protection'], terms: [victims({ specialCategory: true })] }),
      );
      expect(parsed.terms[0]).toMatchObject({ mode: 'records', specialCategory: true });
    });

    it('accepts trafficking.victim aggregates without any of that', () => {
      const term = {
        types: ['trafficking.victim'],
        mode: 'aggregate',
        dimensions: ['exploitationType', 'person.sex'],
        period: 'month',
        retentionDays: 365,
      };
      expect(parseAgreementBody(body({ terms: [term] })).terms[0]).toMatchObject({
        mode: 'aggregate',
        minCell: 5,
      });
    });

    it('refuses specialCategory on a term that carries no special-category records', () => {
      expect(issuesOf(body({ terms: [recordsTerm({ specialCategory: true })] }))).toEqual([
        { path: 'terms[0].specialCategory', code: 'MALFORMED_AGREEMENT' },
      ]);
    });
  });
});

describe('draftAgreement / decodeAgreement', () => {
  it('round-trips the canonical body through an unsigned JWS', () => {
    const draft = draftAgreement(body());
    expect(draft.signatures).toEqual([]);
    expect(decodeAgreement(draft)).toEqual(parseAgreementBody(body()));
  });

  it('refuses a malformed envelope and a payload that is not JSON', () => {
    expect(agreementError(() => decodeAgreement({ payload: 'e30', signatures: [], extra: 1 })).code).toBe(
      'MALFORMED_AGREEMENT',
    );
    expect(
      agreementError(() => decodeAgreement({ payload: 'bm90IGpzb24', signatures: [] })).issues,
    ).toMatchObject([{ path: 'payload' }]);
  });
});

describe('parseAgreementYaml', () => {
  const yaml = `
id: MK-RS-2026-001
provider: MK
recipient: RS
purposes: [border-management]
legalBasis: Protocol on border cooperation
validFrom: 2026-02-01T00:00:00Z
validUntil: 2027-02-01T00:00:00Z
terms:
  - types: [crossing.irregular]
    mode: records
    fields: [routeSegment, persons.citizenship]
    where:
      routeSegment: [GR-MK]
    retentionDays: 90
`;

  it('reads a terms file; timestamps stay strings', () => {
    const parsed = parseAgreementYaml(yaml);
    expect(parsed.validFrom).toBe('2026-02-01T00:00:00Z');
    expect(parsed.terms[0]).toMatchObject({ where: { routeSegment: ['GR-MK'] } });
  });

  it('reports every content error with its path and line', () => {
    const bad = yaml
      .replace('persons.citizenship', 'persons.name')
      .replace('retentionDays: 90', 'retentionDays: 0');
    const e = agreementError(() => parseAgreementYaml(bad));
    expect(e.issues.map(({ path, line }) => ({ path, line }))).toEqual([
      { path: 'terms[0].retentionDays', line: 15 },
      { path: 'terms[0].fields[1]', line: 12 },
    ]);
    expect(e.details[1]).toBe(
      'terms[0].fields[1] (line 12): persons.name is not a field of crossing.irregular',
    );
  });

  it('reports a YAML syntax error and a duplicate key with line and column', () => {
    const e = agreementError(() => parseAgreementYaml(`${yaml}provider: RS\n`));
    expect(e.code).toBe('MALFORMED_AGREEMENT');
    expect(e.issues[0]?.path).toMatch(/^line 16, column 1$/);
    expect(agreementError(() => parseAgreementYaml('terms: [')).issues[0]?.path).toMatch(
      /^line \d+, column \d+$/,
    );
  });
});
