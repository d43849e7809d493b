import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { Pseudonyms } from '../../src/exchange/pseudonyms.js';
import { ResumeTokens } from '../../src/exchange/resume-token.js';

const hashOf = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 22);
const pseudonyms = new Pseudonyms(Buffer.alloc(32, 9));

describe('ResumeTokens', () => {
  it('opens what it sealed, for this query only', () => {
    const tokens = new ResumeTokens(pseudonyms, 'MK-RS-Q', hashOf('q1'));
    for (const seq of [0, 1, 344, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const token = tokens.seal(seq);
      expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(tokens.open(token)).toBe(seq);
      // The same instance again (its cipher is reused) and a fresh one (a replica, after a restart).
      expect(tokens.seal(seq)).toBe(token);
      expect(new ResumeTokens(pseudonyms, 'MK-RS-Q', hashOf('q1')).open(token)).toBe(seq);
      // Another query, another agreement, another gateway secret: not a token of theirs.
      expect(new ResumeTokens(pseudonyms, 'MK-RS-Q', hashOf('q2')).open(token)).toBeUndefined();
      expect(new ResumeTokens(pseudonyms, 'MK-RS-B', hashOf('q1')).open(token)).toBeUndefined();
      expect(
        new ResumeTokens(new Pseudonyms(Buffer.alloc(32, 8)), 'MK-RS-Q', hashOf('q1')).open(token),
      ).toBeUndefined();
    }
  });

  it('seals a batch as it seals each of its sequences', () => {
    const tokens = new ResumeTokens(pseudonyms, 'MK-RS-Q', hashOf('q1'));
    const seqs = [1, 2, 344, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, 2];
    const batch = tokens.sealAll(seqs);
    expect(batch).toEqual(seqs.map((seq) => new ResumeTokens(pseudonyms, 'MK-RS-Q', hashOf('q1')).seal(seq)));
    expect(batch.map((t) => tokens.open(t))).toEqual(seqs);
    expect(tokens.sealAll([])).toEqual([]);
  });

  it('refuses a changed, made-up or malformed token', () => {
    const tokens = new ResumeTokens(pseudonyms, 'MK-RS-Q', hashOf('q1'));
    const raw = Buffer.from(tokens.seal(7), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const changed = Buffer.from(raw);
      changed[i] = (changed[i] ?? 0) ^ 0x01;
      expect(tokens.open(changed.toString('base64url'))).toBeUndefined();
    }
    const legacy = Buffer.from(`7.${hashOf('q1')}`).toString('base64url');
    for (const bad of [
      '',
      legacy,
      'A'.repeat(21),
      'A'.repeat(23),
      `${'A'.repeat(21)}B`,
      `${'A'.repeat(21)}=`,
    ])
      expect(tokens.open(bad)).toBeUndefined();
  });
});
