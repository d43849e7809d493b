import { createHash } from 'node:crypto';

import type { Event, Person } from '@wbx/proto';
import { PARTNER_CODES, SOURCE_EVENT_TYPES, validateEvent, WESTERN_BALKANS } from '@wbx/schema';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  eventToNdjsonLine,
  expectedEventCount,
  FACILITIES_BY_PARTNER,
  generateEvents,
  type GenerateOptions,
  SynthError,
} from '../src/index.js';

const FROM = new Date('2022-06-01T00:00:00.000Z');
const TO = new Date('2023-06-01T00:00:00.000Z');
const base: GenerateOptions = { partner: 'RS', count: 5_000, seed: 'test', from: FROM, to: TO };

const all = (options: Partial<GenerateOptions> = {}): Event[] => [...generateEvents({ ...base, ...options })];
const digest = (events: Iterable<Event>): string => {
  const hash = createHash('sha256');
  for (const e of events) hash.update(`${eventToNdjsonLine(e)}\n`);
  return hash.digest('hex');
};
const time = (s: string | undefined): number => Date.parse(s ?? '');
const isMinor = (p: Person): boolean => p.ageBand === '0-13' || p.ageBand === '14-17';

/** Key orders of proto3 canonical JSON: proto field order, optional fields omitted when unset. */
const EVENT_KEYS = ['eventId', 'origin', 'type', 'schemaVersion', 'occurredAt', 'recordedAt'];
const PERSON_KEYS = ['subjectRef', 'citizenship', 'sex', 'ageBand', 'unaccompaniedMinor'];
const CROSSING_KEYS = [
  'borderSection',
  'routeSegment',
  'direction',
  'location',
  'persons',
  'facilitatorSuspected',
  'detectionMethod',
  'crossingPoint',
];
const inOrder = (keys: string[], order: string[]): boolean =>
  keys.every((k, i) => i === 0 || order.indexOf(k) > order.indexOf(keys[i - 1] ?? ''));

describe('generateEvents', () => {
  const events = all();

  it('is byte-identical for identical options', () => {
    expect(digest(generateEvents(base))).toBe(digest(events));
  });

  it('changes when the seed changes', () => {
    expect(digest(generateEvents({ ...base, seed: 'test2' }))).not.toBe(digest(events));
  });

  it('yields exactly count events', () => {
    expect(events).toHaveLength(5_000);
    for (const count of [0, 1, 2, 13, 999]) expect(all({ count })).toHaveLength(count);
  });

  it('sorts events by occurredAt within [from, to) and records them in [occurredAt, to]', () => {
    let previous = FROM.getTime();
    for (const e of events) {
      const occurred = time(e.occurredAt);
      const recorded = time(e.recordedAt);
      expect(occurred).toBeGreaterThanOrEqual(previous);
      expect(occurred).toBeLessThan(TO.getTime());
      expect(recorded).toBeGreaterThanOrEqual(occurred);
      expect(recorded).toBeLessThanOrEqual(TO.getTime());
      previous = occurred;
    }
  });

  it('builds eventIds as UUIDv7 from recordedAt, all distinct', () => {
    for (const e of events) {
      const ms = parseInt(e.eventId.replaceAll('-', '').slice(0, 12), 16);
      expect(ms).toBe(time(e.recordedAt));
    }
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
  });

  it.each(WESTERN_BALKANS)(
    'produces every source type and no stats.aggregate in 5,000 events of %s',
    (partner) => {
      const types = new Set(all({ partner }).map((e) => e.type));
      expect([...types].sort()).toEqual([...SOURCE_EVENT_TYPES].sort());
    },
  );

  it.each([...WESTERN_BALKANS, 'HR', 'DE', 'FRONTEX'])(
    'makes events of %s that pass validateEvent',
    (partner) => {
      const now = new Date();
      for (const e of all({ partner })) {
        const result = validateEvent(e, { now });
        expect(result.ok ? [] : result.violations).toEqual([]);
      }
    },
  );

  it('emits proto3 canonical JSON: proto field order, timestamps with milliseconds and Z', () => {
    for (const e of events.slice(0, 1_000)) {
      const parsed = JSON.parse(eventToNdjsonLine(e)) as Record<string, unknown>;
      const keys = Object.keys(parsed);
      expect(keys.slice(0, 6)).toEqual(EVENT_KEYS);
      expect(keys).toHaveLength(7);
      expect(e.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const crossing = e.crossingIrregular;
      if (crossing === undefined) continue;
      expect(inOrder(Object.keys(crossing), CROSSING_KEYS)).toBe(true);
      expect(typeof crossing.facilitatorSuspected).toBe('boolean');
      for (const p of crossing.persons) {
        expect(inOrder(Object.keys(p), PERSON_KEYS)).toBe(true);
        expect(Object.keys(p).length).toBeGreaterThanOrEqual(4);
      }
    }
  });

  it('roughly matches the public figures', () => {
    const share = (type: string): number => events.filter((e) => e.type === type).length / events.length;
    const counts = SOURCE_EVENT_TYPES.map((t) => share(t));
    expect(share('crossing.irregular')).toBe(Math.max(...counts));
    expect(share('crossing.irregular') + share('smuggling.incident')).toBeGreaterThan(0.5);
    const persons = events.flatMap((e) => e.crossingIrregular?.persons ?? []);
    const women = persons.filter((p) => p.sex === 'F' && !isMinor(p)).length / persons.length;
    const minors = persons.filter(isMinor).length / persons.length;
    expect(women).toBeLessThan(0.15); // Frontex 2022: women < 10 %
    expect(minors).toBeGreaterThan(0.05); // Frontex 2022: minors ~9 %
    expect(minors).toBeLessThan(0.15);
    const applications = events.filter((e) => e.type === 'asylum.application').length;
    expect(applications / persons.length).toBeGreaterThan(0.02); // ~5 % of arrivals apply
    expect(applications / persons.length).toBeLessThan(0.1);
    const decisions = events.flatMap((e) => (e.asylumDecision ? [e.asylumDecision.outcome] : []));
    const positive = decisions.filter((o) => ['refugee', 'subsidiary', 'humanitarian'].includes(o)).length;
    expect(positive / decisions.length).toBeLessThan(0.15); // very low recognition rates
  });

  it('takes about one reception snapshot per facility per day at a realistic volume', () => {
    const from = new Date('2022-09-01T00:00:00Z');
    const to = new Date('2022-10-01T00:00:00Z');
    const count = expectedEventCount('RS', from, to);
    const snapshots = all({ count, from, to }).filter((e) => e.type === 'reception.capacity').length;
    const expected = (FACILITIES_BY_PARTNER.RS?.length ?? 0) * 30;
    expect(snapshots).toBeGreaterThan(expected * 0.7);
    expect(snapshots).toBeLessThan(expected * 1.3);
  });

  it('links follow-up events to earlier ones', () => {
    const applications = new Map<string, string | undefined>();
    let linkedDecisions = 0;
    const decided = new Set<string | undefined>();
    let linkedReturns = 0;
    for (const e of events) {
      const app = e.asylumApplication;
      if (app) applications.set(app.applicationRef, app.person?.subjectRef);
      const decision = e.asylumDecision;
      if (decision && applications.has(decision.applicationRef)) {
        expect(decision.person?.subjectRef).toBe(applications.get(decision.applicationRef));
        linkedDecisions++;
      }
      if (e.returnDecision) decided.add(e.returnDecision.person?.subjectRef);
      const executed = e.returnExecuted?.person?.subjectRef;
      if (executed !== undefined && decided.has(executed)) linkedReturns++;
    }
    expect(linkedDecisions).toBeGreaterThan(10);
    expect(linkedReturns).toBeGreaterThan(5);
  });

  it.each<[string, Partial<GenerateOptions>]>([
    ['an unknown partner', { partner: 'GB' }],
    ['a negative count', { count: -1 }],
    ['a fractional count', { count: 1.5 }],
    ['an empty window', { to: FROM }],
    ['a window before 2015', { from: new Date('2014-12-31T00:00:00Z') }],
    ['an invalid date', { to: new Date(Number.NaN) }],
  ])('rejects %s with INVALID_OPTIONS', (_name, options) => {
    const run = (): unknown => generateEvents({ ...base, ...options });
    expect(run).toThrow(SynthError);
    expect(run).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as Error);
  });

  it('generates events that always validate (property)', () => {
    const now = Date.now();
    const earliest = Date.UTC(2015, 0, 1);
    const window = fc
      .record({
        start: fc.double({ min: 0, max: 1, noNaN: true }),
        length: fc.integer({ min: 1, max: 3 * 365 * 86_400_000 }),
      })
      .map(({ start, length }) => {
        const from = Math.min(now - 1, Math.floor(earliest + start * (now - earliest)));
        return { from: new Date(from), to: new Date(Math.min(now, from + length)) };
      });
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom(...WESTERN_BALKANS, ...PARTNER_CODES),
        fc.integer({ min: 1, max: 200 }),
        window,
        (seed, partner, count, { from, to }) => {
          let n = 0;
          for (const e of generateEvents({ partner, count, seed, from, to })) {
            const result = validateEvent(e, { now: new Date(now) });
            if (!result.ok)
              throw new Error(`${JSON.stringify(result.violations)} in ${eventToNdjsonLine(e)}`);
            n++;
          }
          return n === count;
        },
      ),
      { numRuns: 200 },
    );
  });
});
