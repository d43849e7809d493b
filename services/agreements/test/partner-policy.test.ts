import { describe, expect, it } from 'vitest';

import {
  grantUnder,
  parseAgreementBody,
  partnerPolicy,
  type ActiveAgreement,
  type PolicyEvent,
  type ReceivedPresentation,
} from '../src/index.js';
import { body, NOW, recordsTerm } from './fixtures.js';

const active = (overrides: Record<string, unknown> = {}, revokedAt?: string): ActiveAgreement => ({
  body: parseAgreementBody(body(overrides)),
  ...(revokedAt === undefined ? {} : { revokedAt }),
});

const crossing = (origin = 'MK', claims: Record<string, unknown> = {}): PolicyEvent => ({
  type: 'crossing.irregular',
  origin,
  claims: {
    occurredAt: '2026-02-27T03:00:00Z',
    routeSegment: 'GR-MK',
    direction: 'entry',
    persons: [{ citizenship: 'SYR', ageBand: '18-34' }],
    ...claims,
  },
});

/** What RS receives of MK under the default body: a crossing with the agreed fields disclosed. */
const presentation = (origin = 'MK'): ReceivedPresentation => ({
  origin,
  type: 'crossing.irregular',
  iat: Math.floor(NOW.getTime() / 1000),
  claims: { routeSegment: 'GR-MK' },
  disclosed: ['occurredAt', 'routeSegment'],
});

/** MK provides to RS (the default), RS provides to MK, and MK provides to AL from May on. */
const mkRs = active();
const rsMk = active({ id: 'RS-MK-2026-001', provider: 'RS', recipient: 'MK' });
const mkAl = active({
  id: 'MK-AL-2026-001',
  recipient: 'AL',
  validFrom: '2026-05-01T00:00:00Z',
  terms: [recordsTerm({ retentionDays: 30 })],
});

describe('partnerPolicy', () => {
  it('denies everything without agreements: no grant, no recipient, nothing received is kept', () => {
    const policy = partnerPolicy('MK', []);
    expect(policy.grants(crossing(), NOW)).toEqual([]);
    expect(policy.recipients(NOW)).toEqual([]);
    expect(policy.check(presentation('RS'))).toMatchObject({ ok: false, code: 'NO_AGREEMENT' });
  });

  it('grants only under the agreements in which the partner provides, for its own events', () => {
    const policy = partnerPolicy('MK', [mkRs, rsMk, mkAl]);
    expect(policy.grants(crossing(), NOW)).toEqual([
      {
        recipient: 'RS',
        paths: ['occurredAt', 'persons.ageBand', 'persons.citizenship', 'routeSegment'],
        agreementIds: ['MK-RS-2026-001'],
        aggregates: [],
      },
    ]);
    // An event of RS is not MK's to share, though RS provides to MK.
    expect(policy.grants(crossing('RS'), NOW)).toEqual([]);
    // From May on, AL too.
    const may = new Date('2026-05-02T00:00:00Z');
    expect(policy.grants(crossing(), may).map((g) => g.recipient)).toEqual(['RS', 'AL']);
  });

  it('lists the recipients in force with the longest retention of their terms', () => {
    const second = active({
      id: 'MK-RS-2026-002',
      terms: [recordsTerm({ retentionDays: 400 })],
    });
    expect(partnerPolicy('MK', [mkRs, rsMk, mkAl]).recipients(NOW)).toEqual([
      { recipient: 'RS', retentionDays: 365 },
    ]);
    expect(partnerPolicy('MK', [mkRs, second]).recipients(NOW)).toEqual([
      { recipient: 'RS', retentionDays: 400 },
    ]);
    expect(partnerPolicy('MK', [mkAl]).recipients(new Date('2026-05-01T00:00:00Z'))).toEqual([
      { recipient: 'AL', retentionDays: 30 },
    ]);
    // In RS's policy, MK is the recipient of RS-MK only: MK-RS makes nobody a recipient of RS.
    expect(partnerPolicy('RS', [mkRs, rsMk]).recipients(NOW)).toEqual([
      { recipient: 'MK', retentionDays: 365 },
    ]);
  });

  it('drops a recipient from the instant of its revocation', () => {
    const revoked = active({}, '2026-03-01T12:00:00Z');
    const policy = partnerPolicy('MK', [revoked]);
    expect(policy.recipients(new Date('2026-03-01T11:59:59Z'))).toHaveLength(1);
    expect(policy.recipients(NOW)).toEqual([]);
    expect(policy.grants(crossing(), NOW)).toEqual([]);
  });

  it('keeps what is received only under an agreement in which the partner is the recipient', () => {
    expect(partnerPolicy('RS', [mkRs]).check(presentation())).toEqual({
      ok: true,
      agreementIds: ['MK-RS-2026-001'],
    });
    // MK provides to RS: MK receiving from RS needs an agreement the other way round.
    expect(partnerPolicy('MK', [mkRs]).check(presentation('RS'))).toMatchObject({ code: 'NO_AGREEMENT' });
    expect(partnerPolicy('MK', [mkRs, rsMk]).check(presentation('RS')).ok).toBe(true);
  });
});

describe('grantUnder', () => {
  it('gives the recipient of the named agreement what that agreement alone allows, for the purpose', () => {
    const wider = active({
      id: 'MK-RS-2026-002',
      terms: [recordsTerm({ fields: ['direction'] })],
    });
    expect(grantUnder(mkRs, crossing(), 'risk-analysis', NOW)?.paths).toEqual([
      'occurredAt',
      'persons.ageBand',
      'persons.citizenship',
      'routeSegment',
    ]);
    expect(grantUnder(wider, crossing(), 'risk-analysis', NOW)?.paths).toEqual(['direction']);
    expect(grantUnder(mkRs, crossing(), 'return-readmission', NOW)).toBeUndefined();
    expect(grantUnder(mkRs, crossing('RS'), 'risk-analysis', NOW)).toBeUndefined();
    expect(grantUnder(mkRs, crossing(), 'risk-analysis', new Date('2027-03-01T00:00:00Z'))).toBeUndefined();
  });
});
