import { createHmac, randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { Pseudonyms } from '../../src/exchange/pseudonyms.js';

describe('Pseudonyms.keyed', () => {
  it('is HMAC-SHA-256 under the per-agreement key, and differs between agreements', () => {
    const secret = randomBytes(32);
    const p = new Pseudonyms(secret);
    for (const agreement of ['MK-RS-1', 'MK-FRONTEX-2026-001']) {
      const key = createHmac('sha256', secret).update(`wbx-subject-ref/v1/${agreement}`).digest();
      for (let i = 0; i < 200; i++) {
        const ref = randomBytes(32).toString('hex');
        expect(p.keyed(agreement, ref)).toBe(createHmac('sha256', key).update(ref).digest('hex'));
      }
    }
    const ref = randomBytes(32).toString('hex');
    expect(p.keyed('MK-RS-1', ref)).not.toBe(p.keyed('MK-RS-2', ref));
  });
});
