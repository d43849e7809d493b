import { describe, expect, it } from 'vitest';

import {
  disclosurePaths,
  evaluate,
  parseAgreementBody,
  type ActiveAgreement,
  type PolicyEvent,
} from '../src/index.js';
import { body, NOW, recordsTerm } from './fixtures.js';

const active = (overrides: Record<string, unknown> = {}, revokedAt?: string): ActiveAgreement => ({
  body: parseAgreementBody(body(overrides)),
  ...(revokedAt === undefined ? {} : { revokedAt }),
});

const crossing = (claims: Record<string, unknown> = {}, origin = 'MK'): PolicyEvent => ({
  type: 'crossing.irregular',
  origin,
  claims: {
    occurredAt: '2026-02-27T03:00:00Z',
    recordedAt: '2026-02-27T05:00:00Z',
    borderSection: 'Gevgelija',
    routeSegment: 'GR-MK',
    direction: 'entry',
    persons: [{ citizenship: 'SYR', sex: 'M', ageBand: '18-34', unaccompaniedMinor: false }],
    facilitatorSuspected: false,
    detectionMethod: 'patrol',
    ...claims,
  },
});

describe('evaluate', () => {
  it('denies by default: no agreement, nothing', () => {
    expect(evaluate([], crossing(), undefined, NOW).size).toBe(0);
    expect(disclosurePaths([], crossing(), 'RS', undefined, NOW)).toEqual([]);
  });

  it('gives the recipient exactly the agreed fields of an event of a covered type', () => {
    const grants = evaluate([active()], crossing(), undefined, NOW);
    expect([...grants.keys()]).toEqual(['RS']);
    expect(grants.get('RS')).toEqual({
      recipient: 'RS',
      paths: ['occurredAt', 'persons.ageBand', 'persons.citizenship', 'routeSegment'],
      agreementIds: ['MK-RS-2026-001'],
      aggregates: [],
    });
    expect(disclosurePaths([active()], crossing(), 'RS', undefined, NOW)).toEqual(grants.get('RS')?.paths);
    expect(disclosurePaths([active()], crossing(), 'AL', undefined, NOW)).toEqual([]);
  });

  it('gives nothing for a type no term covers, or an event of another origin', () => {
    const decision: PolicyEvent = { type: 'asylum.decision', origin: 'MK', claims: { outcome: 'rejected' } };
    expect(evaluate([active()], decision, undefined, NOW).size).toBe(0);
    expect(evaluate([active()], crossing({}, 'RS'), undefined, NOW).size).toBe(0);
  });

  it('gives nothing outside the validity or from the revocation on', () => {
    expect(evaluate([active()], crossing(), undefined, new Date('2026-01-31T23:59:59Z')).size).toBe(0);
    expect(evaluate([active()], crossing(), undefined, new Date('2027-02-01T00:00:00Z')).size).toBe(0);
    const revoked = active({}, '2026-03-01T00:00:00Z');
    expect(evaluate([revoked], crossing(), undefined, new Date('2026-02-28T23:59:59Z')).size).toBe(1);
    expect(evaluate([revoked], crossing(), undefined, NOW).size).toBe(0);
  });

  it('applies where-conditions to the event’s values', () => {
    const terms = [recordsTerm({ where: { routeSegment: ['RS-MK'], direction: ['exit'] } })];
    const a = active({ terms });
    expect(evaluate([a], crossing(), undefined, NOW).size).toBe(0);
    expect(evaluate([a], crossing({ routeSegment: 'RS-MK' }), undefined, NOW).size).toBe(0);
    const match = evaluate([a], crossing({ routeSegment: 'RS-MK', direction: 'exit' }), undefined, NOW);
    expect(match.get('RS')?.paths).toEqual(['routeSegment']);
  });

  it('filters by purpose when one is given', () => {
    const a = active();
    expect(evaluate([a], crossing(), 'risk-analysis', NOW).size).toBe(1);
    expect(evaluate([a], crossing(), 'return-readmission', NOW).size).toBe(0);
  });

  it('serves two recipients from two agreements, each with its own fields', () => {
    const rs = active();
    const al = active({
      id: 'MK-AL-2026-001',
      recipient: 'AL',
      terms: [recordsTerm({ fields: ['borderSection', 'persons.sex'] })],
    });
    const grants = evaluate([rs, al], crossing(), undefined, NOW);
    expect([...grants.keys()].sort()).toEqual(['AL', 'RS']);
    expect(grants.get('AL')?.paths).toEqual(['borderSection', 'persons.sex']);
    expect(grants.get('RS')?.paths).not.toContain('borderSection');
  });

  it('unites the fields of several agreements and terms for one recipient', () => {
    const second = active({
      id: 'MK-RS-2026-002',
      terms: [recordsTerm({ fields: ['direction', 'routeSegment'] })],
    });
    const grant = evaluate([active(), second], crossing(), undefined, NOW).get('RS');
    expect(grant?.paths).toEqual([
      'direction',
      'occurredAt',
      'persons.ageBand',
      'persons.citizenship',
      'routeSegment',
    ]);
    expect(grant?.agreementIds).toEqual(['MK-RS-2026-001', 'MK-RS-2026-002']);
  });

  it('returns aggregate terms as aggregates, never as paths', () => {
    const application: PolicyEvent = {
      type: 'asylum.application',
      origin: 'MK',
      claims: { person: { citizenship: 'AFG', sex: 'F', ageBand: '18-34', unaccompaniedMinor: false } },
    };
    const grant = evaluate([active()], application, undefined, NOW).get('RS');
    expect(grant?.paths).toEqual([]);
    expect(grant?.aggregates).toEqual([
      {
        recipient: 'RS',
        agreementId: 'MK-RS-2026-001',
        termIndex: 1,
        term: parseAgreementBody(body()).terms[1],
      },
    ]);
  });

  it('gives only the paths of the event’s own type from a term over several types', () => {
    const a = active({
      terms: [
        recordsTerm({
          types: ['crossing.irregular', 'asylum.application'],
          fields: ['routeSegment', 'person.sex'],
        }),
      ],
    });
    expect(evaluate([a], crossing(), undefined, NOW).get('RS')?.paths).toEqual(['routeSegment']);
  });

  describe('special category', () => {
    const victim: PolicyEvent = {
      type: 'trafficking.victim',
      origin: 'MK',
      claims: { exploitationType: 'sexual', person: { citizenship: 'MDA', sex: 'F', ageBand: '14-17' } },
    };
    const a = active({
      purposes: ['victim-protection', 'risk-analysis'],
      terms: [
        recordsTerm({ types: ['trafficking.victim'], fields: ['exploitationType'], specialCategory: true }),
      ],
    });

    it('shares victim records under a victim-protection agreement', () => {
      expect(evaluate([a], victim, undefined, NOW).get('RS')?.paths).toEqual(['exploitationType']);
      expect(evaluate([a], victim, 'victim-protection', NOW).get('RS')?.paths).toEqual(['exploitationType']);
    });

    it('answers a query for another purpose of the same agreement with nothing', () => {
      expect(evaluate([a], victim, 'risk-analysis', NOW).size).toBe(0);
    });

    it('refuses victim records from a term that does not say specialCategory, even if handed one', () => {
      const parsed = a.body;
      const [term] = parsed.terms;
      if (term?.mode !== 'records') throw new Error('expected a records term');
      const sneaky: ActiveAgreement = { body: { ...parsed, terms: [{ ...term, specialCategory: false }] } };
      expect(evaluate([sneaky], victim, undefined, NOW).size).toBe(0);
    });
  });
});
