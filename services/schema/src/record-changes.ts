import type { Event } from '@wbx/proto';
import * as z from 'zod';

import { issue, uuidV7 } from './internal/primitives.js';

/** Why an origin corrects an event it sealed (`record.correction`'s `reason`). */
export const CORRECTION_REASONS = [
  'wrong-value',
  'wrong-date',
  'wrong-person-attributes',
  'wrong-location',
  'other',
] as const;
export type CorrectionReason = (typeof CORRECTION_REASONS)[number];

/** Why an origin withdraws an event it sealed (`record.withdrawal`'s `reason`). */
export const WITHDRAWAL_REASONS = ['recorded-in-error', 'erasure-order', 'duplicate'] as const;
export type WithdrawalReason = (typeof WITHDRAWAL_REASONS)[number];

/** The event types that change an event sealed before: they name it, and follow it to its recipients. */
export const RECORD_CHANGE_TYPES = ['record.correction', 'record.withdrawal'] as const;
export type RecordChangeType = (typeof RECORD_CHANGE_TYPES)[number];

export function isRecordChangeType(type: string): type is RecordChangeType {
  return (RECORD_CHANGE_TYPES as readonly string[]).includes(type);
}

const isObject = (v: unknown): v is Event => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `record.correction`: the corrected event is checked as a whole event by `validateEvent` (its own rules,
 * and that it is the original's event id, origin and a source type); here only that it is an object.
 */
export const RecordCorrectionSchema = z.strictObject({
  originalEventId: uuidV7,
  reason: z.enum(CORRECTION_REASONS),
  corrected: z.custom<Event>(isObject, issue('REQUIRED', 'the corrected event is required')),
});

export const RecordWithdrawalSchema = z.strictObject({
  originalEventId: uuidV7,
  reason: z.enum(WITHDRAWAL_REASONS),
});
