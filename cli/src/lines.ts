import type { Readable } from 'node:stream';

export interface Line {
  /** 1-based line number. */
  readonly number: number;
  /** The line without its line break; empty when `tooLong`. */
  readonly text: string;
  /** The line exceeded the byte cap and was skipped without being held in memory. */
  readonly tooLong: boolean;
}

const NL = 0x0a;

/**
 * Splits a byte stream into lines with memory bounded by `maxBytes` per line, whatever the input:
 * a longer line is reported as `tooLong` and discarded as it streams by. Accepts LF and CRLF.
 */
export async function* readLines(input: Readable, maxBytes = 1 << 20): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let pending = 0;
  let overflow = false;
  let number = 0;
  const emit = (): Line => {
    number += 1;
    if (overflow) {
      overflow = false;
      parts = [];
      pending = 0;
      return { number, text: '', tooLong: true };
    }
    let buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, pending);
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
    parts = [];
    pending = 0;
    return { number, text: buf.toString('utf8'), tooLong: false };
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(NL, start);
      const end = nl === -1 ? data.length : nl;
      if (!overflow) {
        if (pending + (end - start) > maxBytes) {
          overflow = true;
          parts = [];
          pending = 0;
        } else if (end > start) {
          parts.push(data.subarray(start, end));
          pending += end - start;
        }
      }
      if (nl === -1) break;
      yield emit();
      start = nl + 1;
    }
  }
  if (pending > 0 || overflow) yield emit();
}
