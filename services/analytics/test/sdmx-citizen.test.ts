import { type Figure, figuresSdmxCsv } from '@wbx/analytics';
import { describe, expect, it } from 'vitest';

import { parseCsv } from './support.js';

const figure = (indicator: string, dimensions: Record<string, string>, value: number): Figure => ({
  origin: 'MK',
  agreementId: 'MK-FRONTEX-1',
  indicator,
  period: '2024-03',
  dimensions,
  value,
  unit: 'persons',
  suppressed: false,
  minCell: 5,
  flags: [],
  provenance: {
    origin: 'MK',
    eventId: '01900000-0000-7000-8000-000000000001',
    kid: 'MK#k1',
    agreementId: 'MK-FRONTEX-1',
    issuedAt: '2024-04-02T00:00:00.000Z',
    verifiedAt: '2024-04-02T00:00:00.000Z',
    inboxSeq: 1,
  },
});

describe('figuresSdmxCsv (Eurostat codes)', () => {
  it("writes citizenship in Eurostat's CITIZEN codes: alpha-2, EL, XK, STLS apart from UNK", () => {
    const codes = ['SYR', 'GRC', 'XKX', 'XXA', 'XXX'];
    const figures = codes.map((c, i) => figure('crossing.irregular', { 'persons.citizenship': c }, 10 + i));
    const [head = [], ...rows] = parseCsv(figuresSdmxCsv(figures));
    const citizen = head.indexOf('CITIZEN');
    expect(rows.map((r) => [r[citizen], r[head.indexOf('OBS_VALUE')]])).toEqual([
      ['SY', '10'],
      ['EL', '11'],
      ['XK', '12'],
      ['STLS', '13'],
      ['UNK', '14'],
    ]);
  });

  it('codes the person citizenship and sex of the indicator types and their border type (BORDER)', () => {
    const figures = [
      figure('entry.refusal', { 'person.citizenship': 'ALB', 'person.sex': 'U', borderType: 'land' }, 7),
      figure('document.fraud', { 'person.citizenship': 'GBR', 'person.sex': 'F', borderType: 'air' }, 6),
    ];
    const [head = [], ...rows] = parseCsv(figuresSdmxCsv(figures));
    const at = (name: string): number => head.indexOf(name);
    expect(rows.map((r) => [r[at('INDICATOR')], r[at('CITIZEN')], r[at('SEX')], r[at('BORDER')]])).toEqual([
      ['entry.refusal', 'AL', 'UNK', 'LAND'],
      ['document.fraud', 'UK', 'F', 'AIR'],
    ]);
  });

  it('passes a value outside the crosswalk through unchanged', () => {
    const [head = [], row = []] = parseCsv(
      figuresSdmxCsv([figure('crossing.irregular', { 'persons.citizenship': 'QQQ' }, 5)]),
    );
    expect(row[head.indexOf('CITIZEN')]).toBe('QQQ');
  });
});
