import { hash } from 'node:crypto';

import { isAllowed } from '@wbx/seal';

type Json = Record<string, unknown>;

interface Entry {
  readonly encoded: string;
  readonly name: string;
  readonly value: unknown;
}

/** One of this partner's own sealed events, parsed once: its claims, and presentations of it. */
export interface OwnEvent {
  /** As `readOwnSealedEvent` gives them: always-visible claims and every body field, persons resolved. */
  readonly claims: Readonly<Json>;
  /** The presentation with only the disclosures `paths` allow: what `disclose(token, paths)` gives. */
  present(paths: readonly string[]): string;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const digestsOf = (v: unknown): string[] => {
  const sd = isObject(v) ? v._sd : undefined;
  return Array.isArray(sd) ? (sd as unknown[]).filter((d): d is string => typeof d === 'string') : [];
};

/**
 * Reads a sealed event this gateway stored itself (WBX_EVENTS) for sharing and Exchange: each
 * disclosure is decoded and hashed once, for the claims and for any number of presentations. It checks
 * no signature (the event is the partner's own); it is not for tokens from elsewhere — verify those.
 */
export function parseOwnEvent(token: string): OwnEvent {
  const tilde = token.indexOf('~');
  const jwt = tilde === -1 ? token : token.slice(0, tilde);
  const encodedList =
    tilde === -1
      ? []
      : token
          .slice(tilde + 1)
          .split('~')
          .filter((e) => e !== '');
  const payload = JSON.parse(Buffer.from(jwt.slice(jwt.indexOf('.') + 1, jwt.lastIndexOf('.')), 'base64url').toString('utf8')) as Json; // prettier-ignore
  const byDigest = new Map<string, Entry>();
  const decoded = decodeAll(encodedList);
  encodedList.forEach((encoded, i) => {
    const d = decoded[i] ?? [];
    byDigest.set(hash('sha256', encoded, 'base64url'), { encoded, name: String(d[1]), value: d[2] });
  });
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (!isObject(value)) return value;
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) if (k !== '_sd') out[k] = resolve(v);
    for (const digest of digestsOf(value)) {
      const inner = byDigest.get(digest);
      if (inner !== undefined) out[inner.name] = resolve(inner.value);
    }
    return out;
  };
  const claims: Json = {};
  for (const [k, v] of Object.entries(payload)) if (k !== '_sd' && k !== '_sd_alg') claims[k] = v;
  const top: Entry[] = [];
  for (const digest of digestsOf(payload)) {
    const d = byDigest.get(digest);
    if (d === undefined) continue;
    top.push(d);
    claims[d.name] = resolve(d.value);
  }
  return {
    claims,
    present(paths) {
      const allowed = new Set(paths);
      const keep = new Set<string>();
      for (const d of top) {
        if (!isAllowed(d.name, allowed)) continue;
        keep.add(d.encoded);
        const nested = Array.isArray(d.value) ? d.value.flatMap(digestsOf) : digestsOf(d.value);
        for (const n of nested) {
          const inner = byDigest.get(n);
          if (inner !== undefined && isAllowed(`${d.name}.${inner.name}`, allowed)) keep.add(inner.encoded);
        }
      }
      let out = `${jwt}~`;
      for (const e of encodedList) if (keep.has(e)) out += `${e}~`;
      return out;
    },
  };
}

/**
 * The disclosures' JSON arrays. When every one is a whole number of base64 quanta (the sealer aligns
 * them) and the text is ASCII, all are decoded in one pass and parsed by one JSON.parse; otherwise one by
 * one.
 */
function decodeAll(encodedList: readonly string[]): unknown[][] {
  if (encodedList.every((e) => e.length % 4 === 0)) {
    const bytes = Buffer.from(encodedList.join(''), 'base64url');
    const text = bytes.toString('latin1');
    if (text.length === bytes.length && !/[\x80-\xff]/.test(text)) {
      const parts: string[] = [];
      let at = 0;
      for (const e of encodedList) {
        const n = (e.length / 4) * 3;
        parts.push(text.slice(at, at + n));
        at += n;
      }
      return JSON.parse(`[${parts.join(',')}]`) as unknown[][];
    }
  }
  return encodedList.map((e) => JSON.parse(Buffer.from(e, 'base64url').toString('utf8')) as unknown[]);
}
