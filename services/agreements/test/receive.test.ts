import { describe, expect, it } from 'vitest';

import {
  checkReceived,
  parseAgreementBody,
  type ActiveAgreement,
  type ReceivedPresentation,
} from '../src/index.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iat = (offsetMs: number): number => Math.floor((T0 + offsetMs) / 1000);

function agreement(terms: unknown[], extra: Record<string, unknown> = {}): ActiveAgreement {
  return {
    body: parseAgreementBody({
      id: 'MK-RS-1',
      provider: 'MK',
      recipient: 'RS',
      purposes: ['border-management'],
      legalBasis: 'test',
      validFrom: new Date(T0).toISOString(),
      validUntil: new Date(T0 + 30 * 86_400_000).toISOString(),
      terms,
      ...extra,
    }),
  };
}

const records = agreement([
  {
    types: ['crossing.irregular'],
    mode: 'records',
    fields: ['occurredAt', 'routeSegment', 'persons.citizenship'],
    where: { routeSegment: ['GR-MK'] },
    retentionDays: 30,
  },
]);

const aggregates = agreement([
  {
    types: ['crossing.irregular'],
    mode: 'aggregate',
    dimensions: ['routeSegment', 'persons.citizenship'],
    period: 'week',
    minCell: 5,
    retentionDays: 30,
  },
]);

function crossing(
  disclosed: string[],
  claims: Record<string, unknown> = { routeSegment: 'GR-MK' },
): ReceivedPresentation {
  return { origin: 'MK', type: 'crossing.irregular', iat: iat(3_600_000), claims, disclosed };
}

function stats(overrides: Record<string, unknown> = {}): ReceivedPresentation {
  return {
    origin: 'MK',
    type: 'stats.aggregate',
    iat: iat(3_600_000),
    claims: {
      period: '2026-W10',
      sourceType: 'crossing.irregular',
      dimensions: ['routeSegment', 'persons.citizenship'],
      minCell: 5,
      cells: [
        { values: ['GR-MK', 'SYR'], count: 12, suppressed: false },
        { values: ['GR-MK', 'AFG'], count: 0, suppressed: true },
      ],
      ...overrides,
    },
    disclosed: ['cells', 'dimensions', 'minCell', 'occurredAt', 'period', 'recordedAt', 'sourceType'],
  };
}

describe('checkReceived', () => {
  it('keeps a presentation within a records term, the person container included', () => {
    const verdict = checkReceived(
      [records],
      'RS',
      crossing(['persons', 'persons.citizenship', 'routeSegment']),
    );
    expect(verdict).toEqual({ ok: true, agreementIds: ['MK-RS-1'] });
  });

  it('keeps subject references keyed for an agreement of its own that covers the record, no other', () => {
    const refs = agreement(
      [{ types: ['crossing.irregular'], mode: 'records', fields: ['persons.subjectRef'], retentionDays: 30 }],
      { id: 'MK-RS-2' },
    );
    const p = (refAgreement: string) => ({ ...crossing(['persons', 'persons.subjectRef']), refAgreement });
    expect(checkReceived([records, refs], 'RS', p('MK-RS-2'))).toMatchObject({ ok: true });
    // Keyed for another recipient's agreement, or one it does not hold: it could be linked with others'.
    for (const other of ['MK-AL-1', 'MK-RS-9']) {
      expect(checkReceived([records, refs], 'RS', p(other))).toMatchObject({
        ok: false,
        code: 'REF_AGREEMENT_NOT_HELD',
      });
    }
  });

  it('refuses everything when no agreement is held (fail closed), or none with that origin', () => {
    expect(checkReceived([], 'RS', crossing(['routeSegment']))).toMatchObject({
      ok: false,
      code: 'NO_AGREEMENT',
    });
    expect(checkReceived([records], 'AL', crossing(['routeSegment']))).toMatchObject({
      code: 'NO_AGREEMENT',
    });
    const fromAl = { ...crossing(['routeSegment']), origin: 'AL' };
    expect(checkReceived([records], 'RS', fromAl)).toMatchObject({ code: 'NO_AGREEMENT' });
  });

  it('refuses a type no term covers, and records of a type agreed only as aggregates', () => {
    const asylum = { ...crossing(['countryOfOrigin']), type: 'asylum.application' };
    expect(checkReceived([records], 'RS', asylum)).toMatchObject({ code: 'NOT_AGREED_TYPE' });
    expect(checkReceived([aggregates], 'RS', crossing(['routeSegment']))).toMatchObject({
      code: 'NOT_AGREED_TYPE',
    });
  });

  it('refuses a disclosed path beyond the fields, naming it', () => {
    const verdict = checkReceived(
      [records],
      'RS',
      crossing(['persons', 'persons.subjectRef', 'routeSegment']),
    );
    expect(verdict).toEqual({
      ok: false,
      code: 'FIELDS_BEYOND_AGREEMENT',
      detail: 'disclosed beyond the agreed fields: persons.subjectRef',
    });
  });

  it('refuses a presentation issued before the agreement, after it, or after its revocation', () => {
    const before = { ...crossing(['routeSegment']), iat: iat(-1_000) };
    expect(checkReceived([records], 'RS', before)).toMatchObject({ code: 'NO_AGREEMENT_AT_IAT' });
    const after = { ...crossing(['routeSegment']), iat: iat(31 * 86_400_000) };
    expect(checkReceived([records], 'RS', after)).toMatchObject({ code: 'NO_AGREEMENT_AT_IAT' });
    const revoked = { ...records, revokedAt: new Date(T0 + 1_800_000).toISOString() };
    expect(checkReceived([revoked], 'RS', crossing(['routeSegment']))).toMatchObject({
      code: 'NO_AGREEMENT_AT_IAT',
    });
    const early = { ...crossing(['routeSegment']), iat: iat(60_000) };
    expect(checkReceived([revoked], 'RS', early).ok).toBe(true);
  });

  it('refuses a disclosed value outside the where-conditions; a withheld one cannot be tested', () => {
    const elsewhere = crossing(['routeSegment'], { routeSegment: 'RS-HU' });
    expect(checkReceived([records], 'RS', elsewhere)).toMatchObject({ code: 'OUTSIDE_AGREED_WHERE' });
    expect(checkReceived([records], 'RS', crossing(['occurredAt'], {})).ok).toBe(true);
  });

  it('allows the union of the fields of every term in force that covers the type', () => {
    const second = agreement(
      [{ types: ['crossing.irregular'], mode: 'records', fields: ['direction'], retentionDays: 7 }],
      { id: 'MK-RS-2' },
    );
    const verdict = checkReceived([records, second], 'RS', crossing(['direction', 'routeSegment']));
    expect(verdict).toEqual({ ok: true, agreementIds: ['MK-RS-1', 'MK-RS-2'] });
  });

  it('keeps an aggregate only under an aggregate term with its dimensions, period and small cells suppressed', () => {
    expect(checkReceived([aggregates], 'RS', stats())).toEqual({ ok: true, agreementIds: ['MK-RS-1'] });
    expect(checkReceived([records], 'RS', stats())).toMatchObject({ code: 'NOT_AGREED_TYPE' });
    const beyond = [
      stats({ dimensions: ['routeSegment', 'persons.sex'] }),
      stats({ period: '2026-03' }),
      stats({ minCell: 3 }),
      stats({ cells: [{ values: ['GR-MK', 'SYR'], count: 2, suppressed: false }] }),
    ];
    for (const p of beyond) {
      expect(checkReceived([aggregates], 'RS', p)).toMatchObject({ code: 'AGGREGATE_BEYOND_AGREEMENT' });
    }
    const otherSource = stats({ sourceType: 'asylum.application' });
    expect(checkReceived([aggregates], 'RS', otherSource)).toMatchObject({ code: 'NOT_AGREED_TYPE' });
  });

  it('keeps special-category records only under a victim-protection term that says so', () => {
    const victim = { ...crossing(['exploitationType']), type: 'trafficking.victim', claims: {} };
    const special = agreement(
      [
        {
          types: ['trafficking.victim'],
          mode: 'records',
          fields: ['exploitationType'],
          specialCategory: true,
          retentionDays: 7,
        },
      ],
      { purposes: ['victim-protection'] },
    );
    expect(checkReceived([special], 'RS', victim).ok).toBe(true);
    // Such terms cannot be signed (parseAgreementBody refuses them); checked again all the same.
    const [term] = special.body.terms;
    const plain = {
      body: {
        ...special.body,
        purposes: ['border-management' as const],
        terms: [{ ...term!, specialCategory: false }],
      },
    };
    expect(checkReceived([plain], 'RS', victim)).toMatchObject({ code: 'NOT_AGREED_TYPE' });
  });
});
