import { describe, expect, it } from 'vitest';

import { validateEvent, type ViolationCode } from '../src/index.js';
import { NOW, setAt, validEvents } from './fixtures.js';

function violationsOf(event: unknown): { path: string; code: ViolationCode }[] {
  const r = validateEvent(event, { now: NOW });
  return r.ok ? [] : r.violations.map(({ path, code }) => ({ path, code }));
}

/** [event type, path, new value (undefined deletes), expected code, expected path (default: path)] */
type Case = [string, string, unknown, ViolationCode, string?];

const cases: Case[] = [
  ['record.withdrawal', 'recordWithdrawal.reason', 'changed-my-mind', 'INVALID_CODE'],
  ['record.withdrawal', 'recordWithdrawal.reason', undefined, 'REQUIRED'],
  ['record.withdrawal', 'recordWithdrawal.originalEventId', 'not-an-id', 'INVALID_FORMAT'],
  ['record.withdrawal', 'recordWithdrawal.originalEventId', undefined, 'REQUIRED'],
  ['record.withdrawal', 'recordWithdrawal.subjectRef', 'x', 'UNKNOWN_FIELD'],
  ['record.correction', 'recordCorrection.reason', 'erasure-order', 'INVALID_CODE'],
  ['record.correction', 'recordCorrection.corrected', undefined, 'REQUIRED'],
  [
    'record.correction',
    'recordCorrection.corrected.crossingIrregular.persons[0].citizenship',
    'ZZZ',
    'UNKNOWN_COUNTRY',
  ],
  [
    'record.correction',
    'recordCorrection.corrected.eventId',
    '01900000-0000-7000-8000-000000000002',
    'INCONSISTENT',
  ],
  ['record.correction', 'recordCorrection.corrected.origin', 'RS', 'INCONSISTENT'],
  [
    'record.correction',
    'recordCorrection.originalEventId',
    '01900000-0000-7000-8000-00000000000e',
    'INCONSISTENT',
  ],
];

describe('record changes (validateEvent)', () => {
  it.each(cases)('%s: %s = %j gives %s', (type, path, value, code, at) => {
    const event = validEvents()[type as 'record.withdrawal'];
    setAt(event, path, value);
    expect(violationsOf(event)).toContainEqual({ path: at ?? path, code });
  });

  it('refuses a correction that makes the event a change or an aggregate', () => {
    const event = validEvents()['record.correction'];
    const aggregate = validEvents()['stats.aggregate'];
    setAt(event, 'recordCorrection.corrected', {
      ...aggregate,
      eventId: '01900000-0000-7000-8000-000000000001',
    });
    expect(violationsOf(event)).toContainEqual({
      path: 'recordCorrection.corrected.type',
      code: 'INVALID_CODE',
    });
  });

  it('returns the corrected event with its proto3 defaults filled in', () => {
    const event = validEvents()['record.correction'];
    setAt(event, 'recordCorrection.corrected.crossingIrregular.facilitatorSuspected', undefined);
    const r = validateEvent(event, { now: NOW });
    expect(r.ok && r.event.recordCorrection?.corrected.crossingIrregular?.facilitatorSuspected).toBe(false);
  });
});
