import { isAscii, isUtf8 } from 'node:buffer';

import { digestOf, isAllowed } from '@wbx/seal';

/**
 * Query's presentation of the origin's own sealed events (WBX_EVENTS) under one grant, parsing no more
 * than what the grant keeps: what `holdToken(token).present(paths)` and its `claims` give, without
 * JSON-parsing and hashing every disclosure of every event. A disclosure's name is read from its decoded
 * text; only the disclosures whose name the grant allows are hashed (and kept only when the signed payload,
 * or the `_sd` of a kept container, lists that digest, as `holdToken` does); only the values the query
 * reads (conditions, the time bound, subject references) are parsed.
 *
 * Anything out of the ordinary — a reference binding, a part not base64url, a disclosure not ASCII or not
 * readable as `["salt","name",…`, a payload without its always-visible claims — gives `undefined`, and the
 * caller falls back to `holdToken` (which refuses what it must). Unlike `holdToken`, a malformed disclosure
 * the grant does not keep is not looked at, so it does not fail the query: it is not presented either way.
 */

/** A WBX_EVENTS token with its payload parsed: enough to choose a grant. */
export interface OwnToken {
  readonly eventId: string;
  readonly type: string;
  readonly token: string;
  /** `header.payload.signature~`: the start of every presentation. */
  readonly jwt: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

const PART_RE = /^[A-Za-z0-9_-]+$/;
const SIGNATURE_RE = /^[A-Za-z0-9_-]*$/;
const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** The index of the first character at or after `i` that is not JSON whitespace. */
function skipSpace(text: string, i: number): number {
  let j = i;
  while (isSpace(text.charCodeAt(j))) j++;
  return j;
}

/** Where the string without escapes that opens at `i` closes (its `"`), or -1. */
function plainEnd(text: string, i: number, end: number): number {
  if (text.charCodeAt(i) !== 0x22) return -1;
  for (let j = i + 1; j < end; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x22) return j;
    if (c === 0x5c) return -1;
  }
  return -1;
}

/**
 * The name of the disclosure whose text is `text[at, end)`: `["salt", "name", value` (JSON whitespace
 * allowed), neither string with an escape; undefined for anything else. `nests` gets whether the value
 * is an object or an array (only then can it hold digests).
 */
function nameAt(text: string, at: number, end: number, nests: boolean[]): string | undefined {
  let i = skipSpace(text, at);
  if (text.charCodeAt(i) !== 0x5b) return undefined;
  const saltEnd = plainEnd(text, skipSpace(text, i + 1), end);
  if (saltEnd === -1) return undefined;
  i = skipSpace(text, saltEnd + 1);
  if (text.charCodeAt(i) !== 0x2c) return undefined;
  const nameStart = skipSpace(text, i + 1);
  const nameEnd = plainEnd(text, nameStart, end);
  if (nameEnd === -1) return undefined;
  i = skipSpace(text, nameEnd + 1);
  if (i >= end || text.charCodeAt(i) !== 0x2c) return undefined;
  const v = text.charCodeAt(skipSpace(text, i + 1));
  nests.push(v === 0x7b || v === 0x5b);
  return text.slice(nameStart + 1, nameEnd);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function digestsOf(value: unknown): readonly unknown[] {
  const sd = isObject(value) ? value._sd : undefined;
  return Array.isArray(sd) ? sd : [];
}

/** The payload of an own token and its always-visible claims; undefined when anything is unusual. */
export function parseOwnToken(token: string): OwnToken | undefined {
  const first = token.indexOf('~');
  if (first === -1 || token.charCodeAt(token.length - 1) !== 0x7e) return undefined;
  const jwt = token.slice(0, first);
  const a = jwt.indexOf('.');
  const b = jwt.indexOf('.', a + 1);
  if (a === -1 || b === -1 || jwt.indexOf('.', b + 1) !== -1) return undefined;
  const payloadB64 = jwt.slice(a + 1, b);
  if (!PART_RE.test(jwt.slice(0, a)) || !PART_RE.test(payloadB64) || !SIGNATURE_RE.test(jwt.slice(b + 1))) {
    return undefined;
  }
  if (payloadB64.length % 4 === 1) return undefined;
  const bytes = Buffer.from(payloadB64, 'base64url');
  let json: string;
  if (isAscii(bytes)) json = bytes.toString('latin1');
  else if (isUtf8(bytes)) json = bytes.toString('utf8');
  else return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isObject(payload)) return undefined;
  const { iss, jti, iat, wbx_type: type, wbx_v: version } = payload;
  if (
    typeof iss !== 'string' ||
    typeof jti !== 'string' ||
    typeof type !== 'string' ||
    !Number.isSafeInteger(iat) ||
    (iat as number) < 0 ||
    !Number.isSafeInteger(version)
  ) {
    return undefined;
  }
  return { eventId: jti, type, token, jwt: token.slice(0, first + 1), payload };
}

/** One event's disclosures: encoded, their decoded texts, names; digests and values on demand. */
class Disclosures {
  readonly encoded: readonly string[];
  readonly names: string[] = [];
  private readonly starts: number[] = [];
  readonly text: string;
  private readonly digests: (string | undefined)[] = [];
  private readonly values = new Map<number, unknown>();
  private readonly nests: boolean[] = [];

  private constructor(encoded: readonly string[], text: string) {
    this.encoded = encoded;
    this.text = text;
  }

  /** Undefined when they are not all whole base64url quads of ASCII `["salt","name",…` texts. */
  static of(own: OwnToken): Disclosures | undefined {
    const { token, jwt } = own;
    if (jwt.length === token.length) return new Disclosures([], '');
    const tail = token.slice(jwt.length, -1);
    const encoded = tail.split('~');
    let total = 0;
    for (const d of encoded) {
      if (d.length === 0 || (d.length & 3) !== 0) return undefined;
      total += d.length;
    }
    // Node's decoder passes over what is not base64 (the `~`s, and anything else: then fewer bytes come
    // out than whole quads give). Exactly 3 bytes a quad: each disclosure decoded where the next starts.
    const bytes = Buffer.from(tail, 'base64url');
    if (bytes.length * 4 !== total * 3 || !isAscii(bytes)) return undefined;
    const out = new Disclosures(encoded, bytes.toString('latin1'));
    let at = 0;
    for (const d of encoded) {
      const name = nameAt(out.text, at, at + (d.length / 4) * 3, out.nests);
      if (name === undefined) return undefined;
      out.starts.push(at);
      out.names.push(name);
      at += (d.length / 4) * 3;
    }
    out.starts.push(at);
    return out;
  }

  digest(i: number): string {
    let d = this.digests[i];
    if (d === undefined) {
      d = digestOf(this.encoded[i] as string);
      this.digests[i] = d;
    }
    return d;
  }

  /** The disclosed value; throws `Unusual` when the disclosure is not `[salt, name, value]` JSON. */
  value(i: number): unknown {
    if (this.values.has(i)) return this.values.get(i);
    let d: unknown;
    try {
      d = JSON.parse(this.text.slice(this.starts[i], this.starts[i + 1]));
    } catch {
      throw new Unusual();
    }
    if (!Array.isArray(d) || d.length !== 3 || d[1] !== this.names[i]) throw new Unusual();
    this.values.set(i, d[2]);
    return d[2];
  }

  /** Whether disclosure i's value is an object or an array (else it holds no digests). */
  mayNest(i: number): boolean {
    return this.nests[i] === true;
  }
}

class Unusual extends Error {}

/** One event read for a query: its claims first (to decide), its presentation and references after. */
export interface PreparedOwn {
  /** The top-level claims asked for, as `holdToken(token).claims` has them for a condition or bound. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** `holdToken(token).present(paths)`; undefined when a kept disclosure is unusual (see above). */
  presentation(): string | undefined;
  /** `subjectRefsOf(holdToken(token).claims)`; undefined as for `presentation`. */
  subjectRefs(): string[] | undefined;
}

/**
 * Presents own tokens under fixed disclosure paths (one grant of one query). Decisions about names are
 * remembered, so that each event costs its decoding, a match per disclosure and a hash per kept one.
 */
export class OwnPresenter {
  private readonly allowed: ReadonlySet<string>;
  private readonly topAllowed = new Map<string, boolean>();
  private readonly nestedAllowed = new Map<string, Map<string, boolean>>();

  /** `paths`: what to keep (as for `present`); `claimNames`: the top-level claims to read. */
  constructor(
    paths: Iterable<string>,
    private readonly claimNames: readonly string[] = [],
  ) {
    this.allowed = new Set(paths);
  }

  /** Undefined when the token is out of the ordinary: then `holdToken` decides. */
  prepare(own: OwnToken): PreparedOwn | undefined {
    const ds = Disclosures.of(own);
    if (ds === undefined) return undefined;
    const top = digestsOf(own.payload);
    const claims: Record<string, unknown> = {};
    const guarded = <T>(work: () => T): T | undefined => {
      try {
        return work();
      } catch (e) {
        if (e instanceof Unusual) return undefined;
        throw e;
      }
    };
    const read = guarded(() => {
      for (const name of this.claimNames) {
        const c = claimOf(own, ds, top, name);
        if (c !== undefined) claims[name] = c.value;
      }
      return true;
    });
    if (read === undefined) return undefined;
    return {
      claims,
      presentation: () => guarded(() => this.present(own, ds, top)),
      subjectRefs: () => guarded(() => subjectRefs(own, ds, top)),
    };
  }

  private isTopAllowed(name: string): boolean {
    let ok = this.topAllowed.get(name);
    if (ok === undefined) {
      ok = isAllowed(name, this.allowed);
      this.topAllowed.set(name, ok);
    }
    return ok;
  }

  private isNestedAllowed(container: string, name: string): boolean {
    let names = this.nestedAllowed.get(container);
    if (names === undefined) {
      names = new Map();
      this.nestedAllowed.set(container, names);
    }
    let ok = names.get(name);
    if (ok === undefined) {
      ok = isAllowed(`${container}.${name}`, this.allowed);
      names.set(name, ok);
    }
    return ok;
  }

  private present(own: OwnToken, ds: Disclosures, top: readonly unknown[]): string {
    const n = ds.encoded.length;
    const keep = new Set<string>();
    for (let i = 0; i < n; i++) {
      const name = ds.names[i] as string;
      if (!this.isTopAllowed(name) || !top.includes(ds.digest(i))) continue;
      keep.add(ds.encoded[i] as string);
      if (!ds.mayNest(i)) continue;
      const value = ds.value(i);
      const nested = Array.isArray(value) ? value.flatMap(digestsOf) : digestsOf(value);
      if (nested.length === 0) continue;
      for (let j = 0; j < n; j++) {
        if (this.isNestedAllowed(name, ds.names[j] as string) && nested.includes(ds.digest(j))) {
          keep.add(ds.encoded[j] as string);
        }
      }
    }
    let presentation = own.jwt;
    if (keep.size > 0) for (const e of ds.encoded) if (keep.has(e)) presentation += `${e}~`;
    return presentation;
  }
}

/**
 * A top-level claim as `holdToken`'s claims have it, not resolved further: the last disclosure of that
 * name the payload lists (`fromDisclosure`), else the payload's own value.
 */
function claimOf(
  own: OwnToken,
  ds: Disclosures,
  top: readonly unknown[],
  name: string,
): { value: unknown; fromDisclosure: boolean } | undefined {
  let best = -1;
  let at = -1;
  for (let i = 0; i < ds.encoded.length; i++) {
    if (ds.names[i] !== name) continue;
    const position = top.lastIndexOf(ds.digest(i));
    if (position > at) {
      at = position;
      best = i;
    }
  }
  if (best !== -1) return { value: ds.value(best), fromDisclosure: true };
  if (name === '_sd' || name === '_sd_alg' || name === '__proto__' || !Object.hasOwn(own.payload, name)) {
    return undefined;
  }
  return { value: own.payload[name], fromDisclosure: false };
}

/** `subjectRefsOf(holdToken(token).claims)`, resolving only the nested `subjectRef` disclosures. */
function subjectRefs(own: OwnToken, ds: Disclosures, top: readonly unknown[]): string[] {
  const persons = claimOf(own, ds, top, 'persons');
  let list: readonly unknown[];
  let resolved: boolean;
  if (persons !== undefined && Array.isArray(persons.value)) {
    list = persons.value;
    resolved = persons.fromDisclosure;
  } else {
    const person = claimOf(own, ds, top, 'person');
    list = person === undefined ? [] : [person.value];
    resolved = person?.fromDisclosure ?? false;
  }
  const disclosed: number[] = [];
  if (resolved) for (let i = 0; i < ds.names.length; i++) if (ds.names[i] === 'subjectRef') disclosed.push(i);
  return list.map((p) => {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return '';
    const person = p as Record<string, unknown>;
    let ref = Object.hasOwn(person, 'subjectRef') ? person.subjectRef : undefined;
    if (disclosed.length > 0) {
      // A disclosed attribute comes after the object's own keys, in the order of its `_sd`.
      for (const digest of digestsOf(person)) {
        for (const i of disclosed) if (ds.digest(i) === digest) ref = ds.value(i);
      }
    }
    return typeof ref === 'string' ? ref : '';
  });
}
