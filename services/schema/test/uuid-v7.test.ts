import { describe, expect, it } from 'vitest';

import { EventSchema, uuidV7 } from '../src/index.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV7', () => {
  it('lays out the timestamp, version, variant and random bits as RFC 9562 does (its example)', () => {
    // RFC 9562, Appendix A.6: 2022-02-22T19:22:22Z, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F.
    expect(uuidV7(1_645_557_742_000, 'cc318c4dc0c0c07398f')).toBe('017f22e2-79b0-7cc3-98c4-dc0c0c07398f');
  });

  it('gives the same id for the same random part, and a fresh one from the CSPRNG by default', () => {
    const at = Date.parse('2024-06-01T12:00:00Z');
    const ts = at.toString(16).padStart(12, '0');
    expect(uuidV7(at, 'fff3fffffffffffffff')).toBe(`${ts.slice(0, 8)}-${ts.slice(8)}-7fff-bfff-ffffffffffff`);
    const ids = Array.from({ length: 1_000 }, () => uuidV7(at));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      expect(id.replaceAll('-', '').slice(0, 12)).toBe(at.toString(16).padStart(12, '0'));
    }
  });

  it('makes ids that an event may carry', () => {
    const shape = EventSchema.shape.eventId;
    expect(shape.safeParse(uuidV7(Date.now())).success).toBe(true);
  });
});
