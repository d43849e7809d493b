/** Keeps the last `limit` characters written by a child process, for error messages. */
export class OutputTail {
  #text = '';

  constructor(private readonly limit = 8_192) {}

  push(chunk: Buffer | string): void {
    this.#text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (this.#text.length > this.limit * 2) this.#text = this.#text.slice(-this.limit);
  }

  /** The retained output, trimmed, at most `limit` characters. */
  toString(): string {
    return this.#text.slice(-this.limit).trim();
  }
}
