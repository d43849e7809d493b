import { hash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { DisclosureBatch } from '../src/internal/batch.js';

const VALUES: unknown[] = [
  'GR-MK',
  'Ünïcödé — ça',
  '😀 emoji',
  'quote " and \\ backslash',
  'line\nbreak',
  '',
  0,
  -1.5,
  123456789,
  true,
  false,
  null,
  [],
  ['a', 'b'],
  { nested: { deep: [1, 2, { x: 'ž' }] } },
  'a'.repeat(1000),
];

describe('DisclosureBatch (bulk base64url of length-aligned disclosures)', () => {
  it('encodes each disclosure exactly as on its own: it decodes to [salt, name, value] and hashes to its digest', () => {
    for (let round = 0; round < 50; round++) {
      const batch = new DisclosureBatch();
      const added: [string, string, unknown][] = [];
      for (let i = 0; i < 1 + (round % 17); i++) {
        const salt = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url');
        const name = i % 3 === 0 ? `field${i}` : i % 3 === 1 ? 'citizenship' : 'naïve';
        const value = VALUES[(round * 7 + i) % VALUES.length];
        batch.add(salt, name, value);
        added.push([salt, name, value]);
      }
      const { encoded, digests } = batch.encode();
      expect(encoded).toHaveLength(added.length);
      encoded.forEach((e, i) => {
        expect(e).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(JSON.parse(Buffer.from(e, 'base64url').toString('utf8'))).toEqual(added[i]);
        expect(Buffer.from(Buffer.from(e, 'base64url')).toString('base64url')).toBe(e); // canonical
        expect(digests[i]).toBe(hash('sha256', e, 'base64url'));
      });
    }
  });
});
