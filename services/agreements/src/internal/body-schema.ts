import { isPartnerCode, LIMITS, parseTimestamp, SOURCE_EVENT_TYPES } from '@wbx/schema';
import * as z from 'zod';

import { PURPOSES } from '../purposes.js';
import { orRequired } from './zod-issues.js';

/** An agreement id: letters, digits and `. _ -`, up to 64 characters, e.g. `MK-RS-2026-001`. */
export const AGREEMENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const LEGAL_BASIS_MAX = 500;
export const MAX_TERMS = 50;
export const MAX_FIELDS = 100;
export const MAX_WHERE_VALUES = 100;
export const MIN_CELL_DEFAULT = 5;
export const MIN_CELL_FLOOR = 3;
export const MIN_CELL_MAX = 1_000;
/** The largest rounding base of an aggregate term (Eurostat rounds asylum figures to 5). */
export const ROUNDING_MAX = 100;
export const RETENTION_DAYS_MAX = 3_650;
/** The longest answer period a readmission agreement may set: a year. */
export const ANSWER_WITHIN_HOURS_MAX = 8_760;

const timestamp = z.string().refine((s) => parseTimestamp(s) !== undefined, {
  error: 'must be an RFC 3339 UTC timestamp, e.g. 2026-01-01T00:00:00Z',
});

const partner = z.string().refine(isPartnerCode, { error: 'not a WBX partner code' });

const sourceType = z.string().refine((t) => (SOURCE_EVENT_TYPES as readonly string[]).includes(t), {
  error: 'not a source event type of the catalogue (stats.aggregate is produced, not agreed)',
});

const path = z.string().min(1).max(64);

/** A term's shape; the rules that relate its parts (mode, paths, special category) are in term-rules. */
const termSchema = z.strictObject({
  types: z.array(sourceType).min(1).max(SOURCE_EVENT_TYPES.length),
  mode: z.enum(['records', 'aggregate'], { error: orRequired('must be records or aggregate') }),
  fields: z.array(path).min(1).max(MAX_FIELDS).optional(),
  dimensions: z.array(path).min(1).max(LIMITS.dimensions).optional(),
  period: z.enum(['day', 'week', 'month'], { error: 'must be day, week or month' }).optional(),
  minCell: z
    .int({ error: 'must be a whole number' })
    .min(MIN_CELL_FLOOR, { error: `must be at least ${MIN_CELL_FLOOR}: smaller cells identify people` })
    .max(MIN_CELL_MAX)
    .optional(),
  rounding: z
    .int({ error: 'must be a whole number' })
    .min(2, { error: 'must be at least 2 (leave it out for exact counts)' })
    .max(ROUNDING_MAX)
    .optional(),
  noise: z.enum(['cell-key'], { error: 'must be cell-key' }).optional(),
  where: z
    .record(
      z.string(),
      z
        .array(z.union([z.string().min(1).max(64), z.boolean()]))
        .min(1)
        .max(MAX_WHERE_VALUES),
    )
    .optional(),
  retentionDays: z
    .int({ error: orRequired('must be a whole number of days') })
    .min(1)
    .max(RETENTION_DAYS_MAX, { error: `must be at most ${RETENTION_DAYS_MAX} days` }),
  specialCategory: z.boolean().optional(),
});

/** The agreement body's shape. */
export const agreementBodySchema = z.strictObject({
  id: z.string().regex(AGREEMENT_ID_RE, {
    error: 'must be 1–64 letters, digits and . _ - (starting with a letter or digit)',
  }),
  provider: partner,
  recipient: partner,
  purposes: z.array(z.enum(PURPOSES, { error: `must be one of ${PURPOSES.join(', ')}` })).min(1),
  legalBasis: z.string().min(1).max(LEGAL_BASIS_MAX),
  validFrom: timestamp,
  validUntil: timestamp,
  terms: z.array(termSchema).min(1).max(MAX_TERMS),
  /** The recipient deletes what it holds under the agreement once it is revoked or expires. */
  deleteOnEnd: z.boolean({ error: 'must be true or false' }).optional(),
  /** With the purpose return-readmission: how long the requested state has to answer a request. */
  readmission: z
    .strictObject({
      answerWithinHours: z
        .int({ error: orRequired('must be a whole number of hours') })
        .min(1)
        .max(ANSWER_WITHIN_HOURS_MAX, { error: `must be at most ${ANSWER_WITHIN_HOURS_MAX} hours` }),
    })
    .optional(),
});

export type ParsedBody = z.output<typeof agreementBodySchema>;
export type ParsedTerm = z.output<typeof termSchema>;
