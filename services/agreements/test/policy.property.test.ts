import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { SOURCE_EVENT_TYPES, type EventType } from '@wbx/schema';

import { evaluate, parseAgreementBody, recordPaths, type Purpose } from '../src/index.js';
import { body, NOW, policyEvent, syntheticEvents } from './fixtures.js';

const FROM = new Date('2025-06-01T00:00:00Z');
const TO = new Date('2025-07-01T00:00:00Z');
/** Records of trafficking victims need purpose victim-protection; they have their own tests. */
const TYPES = SOURCE_EVENT_TYPES.filter((t) => t !== 'trafficking.victim');

const eventArb = fc
  .record({ seed: fc.string({ minLength: 1, maxLength: 12 }), n: fc.integer({ min: 1, max: 30 }) })
  .map(({ seed, n }) => policyEvent(syntheticEvents('MK', n, seed, FROM, TO)[n - 1]!));

/** An event and a records term over some types (half the time including the event's own), fields from them. */
const caseArb = eventArb.chain((event) =>
  fc
    .record({
      others: fc.subarray(TYPES, { minLength: 1, maxLength: 3 }),
      own: fc.boolean(),
      purpose: fc.constantFrom<Purpose | undefined>(undefined, 'border-management', 'anti-smuggling'),
    })
    .chain(({ others, own, purpose }) => {
      const types = [
        ...new Set([...others, ...(own && event.type !== 'trafficking.victim' ? [event.type] : [])]),
      ];
      const paths = [...new Set(types.flatMap((t) => recordPaths(t as EventType)))];
      return fc
        .subarray(paths, { minLength: 1 })
        .map((fields) => ({ event, types: types as EventType[], fields, purpose }));
    }),
);

describe('evaluate (property)', () => {
  it('returns a subset of the term’s fields for a covered type, and nothing for any other type', () => {
    fc.assert(
      fc.property(caseArb, ({ event, types, fields, purpose }) => {
        const agreement = {
          body: parseAgreementBody(
            body({
              terms: [{ types, mode: 'records', fields, retentionDays: 30 }],
              purposes: ['border-management'],
            }),
          ),
        };
        const grants = evaluate([agreement], event, purpose, NOW);
        const own = recordPaths(event.type as EventType);
        const covered = (types as string[]).includes(event.type);
        const allowed = purpose === undefined || purpose === 'border-management';
        const paths = grants.get('RS')?.paths ?? [];
        expect([...grants.keys()].every((r) => r === 'RS')).toBe(true);
        for (const p of paths) {
          expect(fields).toContain(p);
          expect(own).toContain(p);
        }
        if (!covered || !allowed) expect(grants.size).toBe(0);
        else expect(paths).toEqual(fields.filter((f) => own.includes(f)).sort());
      }),
      { numRuns: 200 },
    );
  });
});
