import { digestOf } from './disclosure.js';
import { SealError } from './errors.js';
import { jsonFromB64u } from './internal/base64url.js';
import { envelopeOf } from './internal/envelope.js';
import { disclosureJson, isJsonObject, type Json } from './internal/json.js';
import { splitAndDecode } from './token.js';
import type { EventEnvelope } from './verify.js';

/**
 * A sealed event (or a presentation of it) as its holder sees it: parsed once — each disclosure decoded
 * and hashed once — then read and presented any number of times. Nothing is verified: the signature is
 * the receiver's business (`verifyPresentation`), and a holder only ever drops disclosures.
 */
export interface HeldToken extends EventEnvelope {
  /**
   * The always-visible claims and every disclosed claim, nested disclosures resolved (persons with their
   * attributes): what `readOwnSealedEvent` gives. Built on first use.
   */
  readonly claims: Readonly<Json>;
  /**
   * The presentation that keeps only the disclosures `allowedPaths` allow (see `isAllowed`): the issuer
   * JWT and the kept disclosures byte for byte, in their order; nothing re-signed.
   */
  present(allowedPaths: Iterable<string>): string;
}

interface Entry {
  readonly encoded: string;
  readonly name: string;
  readonly value: unknown;
}

/**
 * Whether a disclosure at `path` (`routeSegment`, `persons`, `persons.citizenship`) is allowed by
 * `allowed`. Naming a field allows it whole, with everything nested in it; naming a nested path
 * (`persons.citizenship`) allows that attribute and the container it sits in, nothing else of it.
 */
export function isAllowed(path: string, allowed: ReadonlySet<string>): boolean {
  if (allowed.has(path)) return true;
  const dot = path.indexOf('.');
  if (dot !== -1 && allowed.has(path.slice(0, dot))) return true;
  if (dot === -1) for (const a of allowed) if (a.startsWith(`${path}.`)) return true;
  return false;
}

function digestsOf(value: unknown): string[] {
  const sd = isJsonObject(value) ? value._sd : undefined;
  return Array.isArray(sd) ? (sd as unknown[]).filter((d): d is string => typeof d === 'string') : [];
}

function malformed(detail: string): SealError {
  return new SealError('MALFORMED_DISCLOSURE', 'token rejected', detail);
}

/**
 * Parses an SD-JWT for its holder (the origin's gateway sharing or answering from its own WBX_EVENTS, or
 * `wbx disclose`). Refuses, with a SealError, a token over `maxBytes`, one that is not
 * `<jwt>~<disclosure>~…~` (a presentation with a reference binding too), a payload that is not a JSON
 * object or lacks the always-visible claims (`iss`, `jti`, `iat`, `wbx_type`, `wbx_v`), and a disclosure
 * that is not `[salt, name, value]` or that names `__proto__`.
 */
export function holdToken(token: string, maxBytes?: number): HeldToken {
  const { parts, decoded } = splitAndDecode(token, maxBytes);
  if (parts.binding !== undefined) {
    // Its binding holds for these disclosures only: a holder cannot present fewer and keep it.
    throw new SealError('MALFORMED_TOKEN', 'token rejected', 'a presentation with a reference binding');
  }
  const payload = jsonFromB64u(parts.payload);
  if (!isJsonObject(payload)) {
    throw new SealError('MALFORMED_PAYLOAD', 'token rejected', 'the payload is not a JSON object');
  }
  const envelope = envelopeOf(payload);
  if (envelope === undefined) {
    const detail = 'iss, jti, iat, wbx_type or wbx_v missing or of the wrong type';
    throw new SealError('MALFORMED_PAYLOAD', 'token rejected', detail);
  }
  const byDigest = new Map<string, Entry>();
  parts.disclosures.forEach((encoded, i) => {
    const d = disclosureJson(parts.disclosures, decoded, i);
    if (!Array.isArray(d) || d.length !== 3 || typeof d[1] !== 'string') {
      throw malformed(`disclosure ${i} is not [salt, name, value]`);
    }
    if (d[1] === '__proto__') {
      throw new SealError('FORBIDDEN_CLAIM_NAME', 'token rejected', `disclosure ${i} names __proto__`);
    }
    byDigest.set(digestOf(encoded), { encoded, name: d[1], value: d[2] as unknown });
  });
  const top: Entry[] = [];
  for (const digest of digestsOf(payload)) {
    const d = byDigest.get(digest);
    if (d !== undefined) top.push(d);
  }
  const jwt = `${parts.header}.${parts.payload}.${parts.signature}~`;
  let claims: Json | undefined;
  return {
    eventId: envelope.jti,
    type: envelope.type,
    issuer: envelope.iss,
    issuedAt: new Date(envelope.iat * 1000),
    get claims(): Json {
      claims ??= resolveClaims(payload, top, byDigest);
      return claims;
    },
    present(allowedPaths) {
      const allowed =
        allowedPaths instanceof Set ? (allowedPaths as ReadonlySet<string>) : new Set(allowedPaths);
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
      let out = jwt;
      for (const e of parts.disclosures) if (keep.has(e)) out += `${e}~`;
      return out;
    },
  };
}

function resolveClaims(payload: Json, top: readonly Entry[], byDigest: ReadonlyMap<string, Entry>): Json {
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (!isJsonObject(value)) return value;
    const out: Json = {};
    for (const k in value) if (k !== '_sd' && k !== '__proto__') out[k] = resolve(value[k]);
    for (const digest of digestsOf(value)) {
      const inner = byDigest.get(digest);
      if (inner !== undefined) out[inner.name] = resolve(inner.value);
    }
    return out;
  };
  const claims: Json = {};
  for (const k in payload) if (k !== '_sd' && k !== '_sd_alg' && k !== '__proto__') claims[k] = payload[k];
  for (const d of top) claims[d.name] = resolve(d.value);
  return claims;
}
