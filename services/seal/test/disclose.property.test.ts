import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { PERSON_ATTRIBUTES, PERSON_FIELDS, validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';

import { disclose, verifyPresentation } from '../src/index.js';
import { manifestFor, newKey, NOW, sealer } from './support.js';

const key = newKey();
const manifest = manifestFor([{ member: 'MK', key }]);
const mk = sealer(key);
const META = ['eventId', 'origin', 'type', 'schemaVersion', 'occurredAt', 'recordedAt'];

function bodyOf(e: ValidEvent): Record<string, unknown> {
  const entry = Object.entries(e as Record<string, unknown>).find(
    ([k, v]) => !META.includes(k) && v !== undefined,
  );
  return Object.fromEntries(Object.entries(entry?.[1] ?? {}).filter(([, v]) => v !== undefined));
}

/** Every path of an event that a recipient could be allowed. */
function pathsOf(e: ValidEvent): string[] {
  const paths = ['occurredAt', 'recordedAt'];
  for (const field of Object.keys(bodyOf(e))) {
    paths.push(field);
    if (PERSON_FIELDS.includes(field)) paths.push(...PERSON_ATTRIBUTES.map((a) => `${field}.${a}`));
  }
  return paths;
}

/** What a recipient allowed `allowed` must see of `e`, computed independently of disclose(). */
function expectedClaims(e: ValidEvent, allowed: Set<string>): Record<string, unknown> {
  const all: Record<string, unknown> = { occurredAt: e.occurredAt, recordedAt: e.recordedAt, ...bodyOf(e) };
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(all)) {
    if (allowed.has(field)) out[field] = value;
    else if (PERSON_FIELDS.includes(field)) {
      const attrs = PERSON_ATTRIBUTES.filter((a) => allowed.has(`${field}.${a}`));
      if (attrs.length === 0) continue;
      const pick = (p: Record<string, unknown>): Record<string, unknown> =>
        Object.fromEntries(attrs.filter((a) => p[a] !== undefined).map((a) => [a, p[a]]));
      out[field] = Array.isArray(value)
        ? value.map((p) => pick(p as Record<string, unknown>))
        : pick(value as Record<string, unknown>);
    }
  }
  return out;
}

function decodedText(presentation: string): string {
  return presentation
    .split(/[~.]/)
    .filter((p) => p !== '')
    .map((p) => Buffer.from(p, 'base64url').toString('utf8'))
    .join('\n');
}

function leafStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(leafStrings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(leafStrings);
  return [];
}

const eventArb = fc
  .record({ seed: fc.string({ minLength: 1, maxLength: 12 }), n: fc.integer({ min: 1, max: 40 }) })
  .map(({ seed, n }) => {
    const from = new Date('2024-04-01T00:00:00Z');
    const to = new Date('2024-05-01T00:00:00Z');
    const list = [...generateEvents({ partner: 'MK', count: n, seed, from, to })];
    const r = validateEvent(JSON.parse(JSON.stringify(list[n - 1])), { now: NOW });
    if (!r.ok) throw new Error(JSON.stringify(r.violations));
    return r.event;
  });

const caseArb = eventArb.chain((event) =>
  fc.subarray(pathsOf(event)).map((allowed) => ({ event, allowed: new Set(allowed) })),
);

describe('disclose → verify (property)', () => {
  it('returns exactly the allowed fields, and withheld values never appear in the presentation bytes', () => {
    fc.assert(
      fc.property(caseArb, ({ event, allowed }) => {
        const token = mk.seal(event, { now: NOW });
        const presentation = disclose(token, allowed);
        const { claims } = verifyPresentation(presentation, { manifest, now: NOW });
        const { iss, jti, iat, wbx_type, wbx_v, ...disclosed } = claims;
        expect({ iss, jti, wbx_type, wbx_v }).toEqual({
          iss: event.origin,
          jti: event.eventId,
          wbx_type: event.type,
          wbx_v: event.schemaVersion,
        });
        expect(typeof iat).toBe('number');
        const expected = expectedClaims(event, allowed);
        expect(disclosed).toEqual(expected);

        const shown = new Set(leafStrings(expected));
        const visible = new Set([event.origin, event.eventId, event.type]);
        const withheld = leafStrings({
          occurredAt: event.occurredAt,
          recordedAt: event.recordedAt,
          ...bodyOf(event),
        }).filter((s) => !shown.has(s) && !visible.has(s));
        const text = decodedText(presentation);
        for (const value of withheld) expect(text).not.toContain(JSON.stringify(value));
      }),
      { numRuns: 300 },
    );
  });
});
