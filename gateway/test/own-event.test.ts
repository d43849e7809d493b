import { disclose, readOwnSealedEvent, createSealer } from '@wbx/seal';
import { generateSigningKey, importPrivateJwk } from '@wbx/registry';
import { validateEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';
import { describe, expect, it } from 'vitest';

import { parseOwnEvent } from '../src/node/own-event.js';

const PATH_SETS: readonly (readonly string[])[] = [
  [],
  ['routeSegment'],
  ['occurredAt', 'routeSegment', 'persons.citizenship'],
  ['persons'],
  ['persons.subjectRef', 'persons.ageBand', 'person.citizenship', 'migrantsCount'],
  ['person', 'outcome', 'requestRef', 'evidence', 'deadline'],
];

describe('parseOwnEvent (sharing and Exchange)', () => {
  it('gives the claims readOwnSealedEvent gives and the presentations disclose gives, for every type', () => {
    const key = importPrivateJwk(generateSigningKey('MK', new Date(Date.now() - 60_000)).privateJwk);
    const sealer = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key });
    const now = new Date();
    const types = new Set<string>();
    for (const e of generateEvents({
      partner: 'MK',
      count: 400,
      seed: 'own-event',
      from: new Date('2024-01-01'),
      to: new Date('2024-01-10'),
    })) {
      // prettier-ignore
      const r = validateEvent(JSON.parse(JSON.stringify(e)), { now });
      if (!r.ok) throw new Error('invalid generated event');
      types.add(r.event.type);
      const token = sealer.seal(r.event, { now });
      const own = parseOwnEvent(token);
      expect(own.claims).toEqual(readOwnSealedEvent(token).claims);
      for (const paths of PATH_SETS) expect(own.present(paths)).toBe(disclose(token, paths));
    }
    expect(types.size).toBeGreaterThanOrEqual(8);
  });
});
