import { Readable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { readLines } from '../src/index.js';

async function collect(chunks: (string | Buffer)[], max?: number) {
  const out = [];
  for await (const line of readLines(Readable.from(chunks), max)) out.push(line);
  return out;
}

describe('readLines', () => {
  it('splits lines across chunk boundaries, with LF and CRLF, and a last line without a break', async () => {
    const lines = await collect(['{"a":', '1}\r\n{"b"', ':2}\n\n', 'tail']);
    expect(lines.map((l) => [l.number, l.text, l.tooLong])).toEqual([
      [1, '{"a":1}', false],
      [2, '{"b":2}', false],
      [3, '', false],
      [4, 'tail', false],
    ]);
  });

  it('reports a line over the cap as tooLong without holding it, then goes on', async () => {
    const big = 'x'.repeat(5000);
    const lines = await collect(['ok\n', big.slice(0, 2500), big.slice(2500), '\nnext\n'], 1000);
    expect(lines.map((l) => [l.number, l.text, l.tooLong])).toEqual([
      [1, 'ok', false],
      [2, '', true],
      [3, 'next', false],
    ]);
  });

  it('decodes multi-byte UTF-8 split across chunks', async () => {
    const bytes = Buffer.from('Škofja Loka — Ђевђелија\n');
    const lines = await collect([bytes.subarray(0, 2), bytes.subarray(2, 9), bytes.subarray(9)]);
    expect(lines[0]?.text).toBe('Škofja Loka — Ђевђелија');
  });
});
