import { hash } from 'node:crypto';

const NON_ASCII_RE = /[\u0080-\uffff]/;

/** The encoded disclosures of a batch and their digests, index for index. */
export interface EncodedBatch {
  readonly encoded: string[];
  readonly digests: string[];
}

/** Claim names as JSON strings, and whether each is ASCII: the names of a schema recur in every event. */
const quotedNames = new Map<string, { readonly json: string; readonly ascii: boolean }>();
const QUOTED_NAMES_MAX = 1024;

function quotedName(name: string): { readonly json: string; readonly ascii: boolean } {
  let quoted = quotedNames.get(name);
  if (quoted === undefined) {
    const json = JSON.stringify(name);
    quoted = { json, ascii: !NON_ASCII_RE.test(json) };
    if (quotedNames.size < QUOTED_NAMES_MAX) quotedNames.set(name, quoted);
  }
  return quoted;
}

/**
 * Disclosures encoded together. Each one's JSON is padded with insignificant white space (after its
 * commas, as in RFC 9901's own examples, §4.2.1) to a multiple of 3 bytes, so that the base64url of the
 * whole batch, computed once, is the concatenation of each disclosure's own base64url: one UTF-8 and one
 * base64url pass for all of them instead of one of each per disclosure. Each is then hashed on its own.
 */
export class DisclosureBatch {
  private json = '';
  private readonly bytes: number[] = [];
  private ascii = true;

  get size(): number {
    return this.bytes.length;
  }

  /** Adds `[salt, name, value]`; returns its index. */
  add(salt: string, name: string, value: unknown): number {
    // undefined (nothing to encode) is written as null, as JSON.stringify does inside an array
    const json = JSON.stringify(value) as string | undefined;
    // a number, boolean or null is ASCII JSON: no need to look
    const ascii = value === null || typeof value === 'number' || typeof value === 'boolean';
    return this.addJson(salt, name, json ?? 'null', ascii);
  }

  /**
   * Adds `[salt, name, <valueJson>]`, `valueJson` already JSON; returns its index. `ascii`: the caller
   * knows `valueJson` to be ASCII.
   */
  addJson(salt: string, name: string, valueJson: string, ascii = false): number {
    const s = `"${salt}"`; // base64url: nothing to escape
    const { json: n, ascii: asciiName } = quotedName(name);
    let bytes = s.length + n.length + valueJson.length + 4;
    if (!asciiName || (!ascii && NON_ASCII_RE.test(valueJson))) {
      this.ascii = false;
      bytes = s.length + Buffer.byteLength(n) + Buffer.byteLength(valueJson) + 4;
    }
    const pad = (3 - (bytes % 3)) % 3;
    this.json +=
      pad === 0
        ? `[${s},${n},${valueJson}]`
        : pad === 1
          ? `[${s},${n}, ${valueJson}]`
          : `[${s}, ${n}, ${valueJson}]`;
    return this.bytes.push(bytes + pad) - 1;
  }

  encode(): EncodedBatch {
    const all = Buffer.from(this.json, this.ascii ? 'latin1' : 'utf8').toString('base64url');
    const encoded: string[] = [];
    const digests: string[] = [];
    let at = 0;
    for (const bytes of this.bytes) {
      const e = all.slice(at, (at += (bytes / 3) * 4));
      encoded.push(e);
      digests.push(hash('sha256', e, 'base64url'));
    }
    return { encoded, digests };
  }
}
