import { describe, expect, it } from 'vitest';

import {
  bodyFields,
  EVENT_TYPES,
  SOURCE_EVENT_TYPES,
  validateEvent,
  type EventType,
  type ViolationCode,
} from '../src/index.js';
import { NOW, setAt, validEvents } from './fixtures.js';

function violationsOf(event: unknown): { path: string; code: ViolationCode }[] {
  const r = validateEvent(event, { now: NOW });
  return r.ok ? [] : r.violations.map(({ path, code }) => ({ path, code }));
}

function eventOf(type: EventType, changes: [string, unknown][] = []): Record<string, unknown> {
  const event = validEvents()[type];
  for (const [path, value] of changes) setAt(event, path, value);
  return event;
}

/** [event type, path, new value (undefined deletes), expected code, expected path (default: path)] */
type Case = [EventType, string, unknown, ViolationCode, string?];

const cases: Case[] = [
  ['crossing.irregular', 'crossingIrregular.crossingPoint', 'green-border', 'INVALID_CODE'],
  ['crossing.irregular', 'crossingIrregular.crossingPoint', 1, 'INVALID_TYPE'],
  ['crossing.irregular', 'crossingIrregular.persons[0].citizenship', 'STLS', 'UNKNOWN_COUNTRY'],
  ['crossing.irregular', 'crossingIrregular.persons[0].citizenship', 'XK', 'UNKNOWN_COUNTRY'],
  ['entry.refusal', 'entryRefusal.borderSection', '', 'REQUIRED'],
  ['entry.refusal', 'entryRefusal.borderSection', 'MK<script>', 'INVALID_FORMAT'],
  ['entry.refusal', 'entryRefusal.borderType', 'rail', 'INVALID_CODE'],
  ['entry.refusal', 'entryRefusal.ground', 'B', 'INVALID_CODE'],
  ['entry.refusal', 'entryRefusal.ground', undefined, 'REQUIRED'],
  ['entry.refusal', 'entryRefusal.person', undefined, 'REQUIRED'],
  ['entry.refusal', 'entryRefusal.person.citizenship', 'ALBANIA', 'UNKNOWN_COUNTRY'],
  ['entry.refusal', 'entryRefusal.person.name', 'Ahmed', 'UNKNOWN_FIELD'],
  ['entry.refusal', 'entryRefusal.documentNumber', 'X1234567', 'UNKNOWN_FIELD'],
  ['stay.illegal', 'stayIllegal.detectedOn', 'border', 'INVALID_CODE'],
  ['stay.illegal', 'stayIllegal.borderSection', undefined, 'REQUIRED'],
  ['stay.illegal', 'stayIllegal.borderSection', 'a'.repeat(65), 'TOO_LONG'],
  ['stay.illegal', 'stayIllegal.stayBasis', 'visa-free', 'INVALID_CODE'],
  ['stay.illegal', 'stayIllegal.person.ageBand', '18-25', 'INVALID_CODE'],
  ['document.fraud', 'documentFraud.borderType', 'river', 'INVALID_CODE'],
  ['document.fraud', 'documentFraud.direction', 'transit', 'INVALID_CODE'],
  ['document.fraud', 'documentFraud.documentType', 'driving-licence', 'INVALID_CODE'],
  ['document.fraud', 'documentFraud.fraudType', 'fake', 'INVALID_CODE'],
  ['document.fraud', 'documentFraud.documentCountry', 'XXX', 'UNKNOWN_COUNTRY'],
  ['document.fraud', 'documentFraud.documentCountry', 'XXA', 'UNKNOWN_COUNTRY'],
  ['document.fraud', 'documentFraud.documentCountry', 'BG', 'UNKNOWN_COUNTRY'],
  ['document.fraud', 'documentFraud.documentType', 'stamp', 'INCONSISTENT', 'documentFraud.fraudType'],
  ['document.fraud', 'documentFraud.person', undefined, 'REQUIRED'],
];

describe('the WB-RAN indicator types', () => {
  it.each(['entry.refusal', 'stay.illegal', 'document.fraud'] as const)(
    'accepts a valid %s event, a source type an agreement can name',
    (type) => {
      expect(violationsOf(validEvents()[type])).toEqual([]);
      expect(EVENT_TYPES).toContain(type);
      expect(SOURCE_EVENT_TYPES).toContain(type);
    },
  );

  it.each(cases)('%s: %s = %j → %s', (type, path, value, code, at) => {
    expect(violationsOf(eventOf(type, [[path, value]]))).toContainEqual({ path: at ?? path, code });
  });

  it('rejects a border section on an illegal stay detected inland', () => {
    const event = eventOf('stay.illegal', [['stayIllegal.detectedOn', 'inland']]);
    expect(violationsOf(event)).toEqual([{ path: 'stayIllegal.borderSection', code: 'INCONSISTENT' }]);
    delete (event.stayIllegal as Record<string, unknown>).borderSection;
    expect(violationsOf(event)).toEqual([]);
  });

  it('accepts an impostor only with a personal document, and any fraud type with a stamp but impostor', () => {
    for (const documentType of ['passport', 'id-card', 'residence-permit', 'visa']) {
      expect(violationsOf(eventOf('document.fraud', [['documentFraud.documentType', documentType]]))).toEqual(
        [],
      );
    }
    const stamp = eventOf('document.fraud', [
      ['documentFraud.documentType', 'stamp'],
      ['documentFraud.fraudType', 'counterfeit'],
    ]);
    expect(violationsOf(stamp)).toEqual([]);
  });

  it('rejects an indicator body under another type', () => {
    const event = eventOf('entry.refusal', [['type', 'document.fraud']]);
    expect(violationsOf(event)).toContainEqual({ path: 'documentFraud', code: 'REQUIRED' });
  });

  it('discloses the new bodies field by field', () => {
    expect(bodyFields('entry.refusal')).toEqual(['borderSection', 'borderType', 'person', 'ground']);
    expect(bodyFields('stay.illegal')).toEqual(['person', 'detectedOn', 'borderSection', 'stayBasis']);
    expect(bodyFields('document.fraud')).toContain('documentCountry');
    expect(bodyFields('crossing.irregular')).toContain('crossingPoint');
  });
});

describe('compatibility of the indicator change', () => {
  it('still accepts a crossing without crossingPoint, and leaves it absent', () => {
    const event = validEvents()['crossing.irregular'];
    expect(event.crossingIrregular).not.toHaveProperty('crossingPoint');
    const r = validateEvent(event, { now: NOW });
    expect(r.ok && r.event.crossingIrregular).not.toHaveProperty('crossingPoint');
  });

  it.each(['between-bcp', 'at-bcp'])('accepts crossingPoint %s', (crossingPoint) => {
    const event = eventOf('crossing.irregular', [['crossingIrregular.crossingPoint', crossingPoint]]);
    const r = validateEvent(event, { now: NOW });
    expect(r.ok && r.event.crossingIrregular?.crossingPoint).toBe(crossingPoint);
  });

  it('keeps stateless (XXA), unknown (XXX) and Kosovo (XKX) apart as citizenships', () => {
    for (const citizenship of ['XXA', 'XXX', 'XKX']) {
      const event = eventOf('asylum.application', [
        ['asylumApplication.person.citizenship', citizenship],
        ['asylumApplication.countryOfOrigin', citizenship],
      ]);
      expect(violationsOf(event)).toEqual([]);
    }
  });
});
