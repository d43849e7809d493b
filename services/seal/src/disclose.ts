import { digestOf } from './disclosure.js';
import { SealError } from './errors.js';
import { jsonFromB64u } from './internal/base64url.js';
import { splitToken, type TokenParts } from './token.js';

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
  if (value === null || typeof value !== 'object') return [];
  const sd = (value as { _sd?: unknown })._sd;
  return Array.isArray(sd) ? sd.filter((d): d is string => typeof d === 'string') : [];
}

/**
 * Derives a presentation that keeps only the allowed disclosures of a sealed event (or of a presentation
 * of it); the issuer JWT and the kept disclosures are passed on byte for byte, nothing is re-signed.
 * The signature is not checked here: disclosure is the holder's step, verification the receiver's.
 */
export function disclose(token: string, allowedPaths: Iterable<string>, maxBytes?: number): string {
  const parts: TokenParts = splitToken(token, maxBytes);
  const allowed = new Set(allowedPaths);
  const payload = jsonFromB64u(parts.payload);
  const byDigest = new Map<string, { encoded: string; name: string; value: unknown }>();
  for (const encoded of parts.disclosures) {
    const d = jsonFromB64u(encoded);
    if (!Array.isArray(d) || d.length !== 3 || typeof d[1] !== 'string') {
      throw new SealError(
        'MALFORMED_DISCLOSURE',
        'token rejected',
        'a disclosure is not [salt, name, value]',
      );
    }
    byDigest.set(digestOf(encoded), { encoded, name: d[1], value: d[2] as unknown });
  }
  const keep = new Set<string>();
  for (const digest of digestsOf(payload)) {
    const d = byDigest.get(digest);
    if (d === undefined || !isAllowed(d.name, allowed)) continue;
    keep.add(d.encoded);
    const nested = Array.isArray(d.value) ? d.value.flatMap(digestsOf) : digestsOf(d.value);
    for (const n of nested) {
      const inner = byDigest.get(n);
      if (inner !== undefined && isAllowed(`${d.name}.${inner.name}`, allowed)) keep.add(inner.encoded);
    }
  }
  const kept = parts.disclosures.filter((e) => keep.has(e));
  return `${parts.header}.${parts.payload}.${parts.signature}~${kept.map((e) => `${e}~`).join('')}`;
}
