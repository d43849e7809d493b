import { verify as verifySignature, type KeyObject } from 'node:crypto';

import { resolveSigningKey, RegistryError, type ManifestBody } from '@wbx/registry';
import { isPartnerCode, SCHEMA_VERSION, validateDisclosedClaims } from '@wbx/schema';

import { digestOf } from './disclosure.js';
import { SealError, type SealErrorCode } from './errors.js';
import { fromB64u, jsonFromB64u } from './internal/base64url.js';
import { envelopeOf, type Envelope } from './internal/envelope.js';
import { disclosureJson, isJsonObject, type Json } from './internal/json.js';
import { ALWAYS_VISIBLE, DEFAULT_IAT_SKEW_S, SD_ALG, SEAL_ALG, SEAL_TYP } from './profile.js';
import {
  applyRefBinding,
  parseRefBinding,
  refBindingSignatureValid,
  type ParsedRefBinding,
} from './ref-binding.js';
import { splitAndDecode, type TokenParts } from './token.js';

export interface VerifyOptions {
  /** The trusted federation manifest: who the members are and which keys they sign with, when. */
  readonly manifest: ManifestBody;
  /** The verifier's clock; default: now. */
  readonly now?: Date;
  /** Cap on the token size in bytes; default 64 KiB. */
  readonly maxBytes?: number;
  /** How far ahead of `now` an `iat` may be, in seconds; default 300. */
  readonly iatSkewSeconds?: number;
}

/** What every sealed event shows, whatever its holder withheld: its always-visible claims, typed. */
export interface EventEnvelope {
  /** `jti`: the event's id (a UUIDv7 once verified). */
  readonly eventId: string;
  /** `wbx_type`: the catalogue event type (`crossing.irregular`, …). */
  readonly type: string;
  /** `iss`: the partner that sealed it, the event's origin. */
  readonly issuer: string;
  /** `iat`: when it was sealed (whole seconds). */
  readonly issuedAt: Date;
}

/** A verified presentation (RFC 9901 §7.1): its envelope, and its always-visible and disclosed claims. */
export interface VerifiedEvent extends EventEnvelope {
  readonly kid: string;
  /** `iss`, `jti`, `iat`, `wbx_type`, `wbx_v` and every disclosed claim, `_sd`/`_sd_alg` removed. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The disclosed paths (`routeSegment`, `persons.citizenship`, …), sorted. */
  readonly disclosed: readonly string[];
  /**
   * When the presentation carries the origin's reference binding: the agreement its subject references
   * are keyed for. They stand in `claims` as the persons' `subjectRef` (and `disclosed` lists
   * `<field>.subjectRef`), in place of the origin's own references, which the presentation withholds.
   */
  readonly refAgreement?: string;
}

const UUID_V7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ALWAYS_VISIBLE_SET: ReadonlySet<string> = new Set(ALWAYS_VISIBLE);
const ALLOWED_PAYLOAD_KEYS = new Set<string>([...ALWAYS_VISIBLE, '_sd', '_sd_alg']);
const KEY_CODES: Partial<Record<string, SealErrorCode>> = {
  UNKNOWN_ISSUER: 'UNKNOWN_ISSUER',
  UNKNOWN_KEY: 'UNKNOWN_KEY',
  KEY_MISMATCH: 'UNKNOWN_KEY',
  KEY_NOT_YET_VALID: 'KEY_NOT_YET_VALID',
  KEY_EXPIRED: 'KEY_EXPIRED',
  KEY_REVOKED: 'KEY_REVOKED',
};

function refuse(code: SealErrorCode, detail: string, cause?: unknown): SealError {
  const message = code === 'BAD_SIGNATURE' ? 'signature verification failed' : 'token rejected';
  return new SealError(code, message, detail, cause === undefined ? undefined : { cause });
}

function resolveKey(manifest: ManifestBody, iss: string, kid: string, at: Date): KeyObject {
  try {
    return resolveSigningKey(manifest, iss, kid, at);
  } catch (e) {
    if (e instanceof RegistryError) {
      throw refuse(
        KEY_CODES[e.code] ?? 'UNKNOWN_KEY',
        `${iss} ${kid} at ${at.toISOString()}: ${e.message}`,
        e,
      );
    }
    throw e;
  }
}

interface Disclosed {
  readonly name: string;
  readonly value: unknown;
}

/** A placeholder while a disclosure is being parsed. */
const DUPLICATE: Disclosed = { name: '', value: undefined };

function parseDisclosures(
  encoded: readonly string[],
  decoded: readonly string[] | undefined,
): Map<string, Disclosed> {
  const byDigest = new Map<string, Disclosed>();
  for (let i = 0; i < encoded.length; i++) {
    const text = encoded[i] as string;
    const digest = digestOf(text);
    const before = byDigest.size;
    byDigest.set(digest, DUPLICATE);
    if (byDigest.size === before) throw refuse('DUPLICATE_DISCLOSURE', `disclosure ${i} appears twice`);
    const d = disclosureJson(encoded, decoded, i);
    if (!Array.isArray(d) || d.length !== 3 || typeof d[0] !== 'string' || typeof d[1] !== 'string') {
      throw refuse(
        'MALFORMED_DISCLOSURE',
        `disclosure ${i} is not a [salt, name, value] array of valid UTF-8 JSON`,
      );
    }
    const name = d[1];
    if (name === '_sd' || name === '...' || name === '__proto__') {
      throw refuse('FORBIDDEN_CLAIM_NAME', `disclosure ${i} names the reserved claim ${name}`);
    }
    byDigest.set(digest, { name, value: d[2] as unknown });
  }
  return byDigest;
}

/** The state of one walk over a payload: the disclosures by digest, the digests seen, what was disclosed. */
interface Walk {
  readonly byDigest: ReadonlyMap<string, Disclosed>;
  readonly seen: Set<string>;
  readonly disclosed: Set<string>;
  used: number;
}

function processArray(ctx: Walk, value: readonly unknown[], path: string): unknown[] {
  const out: unknown[] = [];
  for (const v of value) {
    if (isJsonObject(v) && Object.hasOwn(v, '...')) {
      const digest = v['...'];
      if (Object.keys(v).length !== 1)
        throw refuse('MALFORMED_PAYLOAD', `an array digest at ${path} has other keys`);
      if (typeof digest !== 'string') throw refuse('DUPLICATE_DIGEST', `at ${path}`);
      const before = ctx.seen.size;
      if (ctx.seen.add(digest).size === before) throw refuse('DUPLICATE_DIGEST', `at ${path}`);
      if (ctx.byDigest.has(digest))
        throw refuse('MALFORMED_DISCLOSURE', `array element disclosure at ${path}`);
    } else {
      out.push(processValue(ctx, v, path));
    }
  }
  return out;
}

function processValue(ctx: Walk, value: unknown, path: string): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return processArray(ctx, value, path);
  return processObject(ctx, value as Json, path);
}

function hasName(found: readonly { name: string }[], name: string): boolean {
  for (const f of found) if (f.name === name) return true;
  return false;
}

/** Nested paths (`persons.sex`) recur in every person: built once, not once a claim. */
const nestedPaths = new Map<string, Map<string, string>>();
const NESTED_PATHS_MAX = 1024;

function pathOf(path: string, name: string): string {
  let names = nestedPaths.get(path);
  if (names === undefined) {
    if (nestedPaths.size >= NESTED_PATHS_MAX) return `${path}.${name}`;
    nestedPaths.set(path, (names = new Map<string, string>()));
  }
  let at = names.get(name);
  if (at === undefined) {
    at = `${path}.${name}`;
    if (names.size < NESTED_PATHS_MAX) names.set(name, at);
  }
  return at;
}

const byName = (a: { name: string }, b: { name: string }): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/**
 * RFC 9901 §7.1 step 3: replaces each `_sd` digest with its disclosed claim, recursively. The plain claims
 * come first, in their order; the disclosed ones after them by name, so that objects of the same claims
 * share their shape whatever the digests' order.
 */
function processObject(ctx: Walk, obj: Json, path: string): Json {
  const out: Json = {};
  for (const k in obj) {
    if (k === '_sd' || (k === '_sd_alg' && path === '')) continue;
    if (k === '__proto__')
      throw refuse('FORBIDDEN_CLAIM_NAME', `a claim named __proto__ at ${path || 'top'}`);
    out[k] = processValue(ctx, obj[k], path);
  }
  const sd = obj._sd;
  if (sd === undefined) return out;
  if (!Array.isArray(sd)) throw refuse('MALFORMED_PAYLOAD', `_sd at ${path || 'top'} is not an array`);
  const found: { name: string; value: unknown }[] = [];
  for (const digest of sd) {
    if (typeof digest !== 'string')
      throw refuse('MALFORMED_PAYLOAD', `_sd at ${path || 'top'} has a non-string`);
    const before = ctx.seen.size;
    if (ctx.seen.add(digest).size === before)
      throw refuse('DUPLICATE_DIGEST', `digest ${digest} appears twice`);
    const d = ctx.byDigest.get(digest);
    if (d === undefined) continue;
    ctx.used += 1;
    const { name } = d;
    if (Object.hasOwn(out, name) || hasName(found, name))
      throw refuse('CLAIM_CONFLICT', `claim ${name} at ${path || 'top'} twice`);
    const at = path === '' ? name : pathOf(path, name);
    found.push({ name, value: processValue(ctx, d.value, at) });
    ctx.disclosed.add(at);
  }
  if (found.length > 1) found.sort(byName);
  for (const d of found) out[d.name] = d.value;
  return out;
}

interface ParsedJwt extends Envelope {
  readonly kid: string;
  readonly payload: Json;
}

/** Parses the issuer JWT's header and payload and checks them against the profile (no signature yet). */
function parseJwt(parts: TokenParts): ParsedJwt {
  const header = jsonFromB64u(parts.header, true);
  if (!isJsonObject(header)) throw refuse('MALFORMED_HEADER', 'the JOSE header is not a JSON object');
  if (header.alg !== SEAL_ALG)
    throw refuse('ALG_NOT_ALLOWED', `alg ${JSON.stringify(header.alg)} is not EdDSA`);
  if (header.typ !== SEAL_TYP) throw refuse('WRONG_TYP', `typ ${JSON.stringify(header.typ)}`);
  if (typeof header.kid !== 'string' || 'crit' in header) {
    throw refuse('MALFORMED_HEADER', 'the header needs a kid and no crit');
  }
  const kid = header.kid;
  const payload = jsonFromB64u(parts.payload, true);
  if (!isJsonObject(payload)) throw refuse('MALFORMED_PAYLOAD', 'the payload is not a JSON object');
  const envelope = envelopeOf(payload);
  if (envelope === undefined || !Array.isArray(payload._sd)) {
    throw refuse('MALFORMED_PAYLOAD', 'iss, jti, iat, wbx_type, wbx_v or _sd missing or of the wrong type');
  }
  const extra = Object.keys(payload).filter((k) => !ALLOWED_PAYLOAD_KEYS.has(k));
  if (extra.length > 0) throw refuse('MALFORMED_PAYLOAD', `claims outside the profile: ${extra.join(', ')}`);
  if (payload._sd_alg !== SD_ALG)
    throw refuse('UNSUPPORTED_SD_ALG', `_sd_alg ${JSON.stringify(payload._sd_alg)}`);

  return { kid, payload, ...envelope };
}

/** Processes the disclosures against the payload's digests: each referenced exactly once. */
function disclosedClaims(
  parts: TokenParts,
  decoded: readonly string[] | undefined,
  payload: Json,
  binding?: ParsedRefBinding,
): { claims: Json; disclosed: string[] } {
  const ctx: Walk = {
    byDigest: parseDisclosures(parts.disclosures, decoded),
    seen: new Set(),
    disclosed: new Set(),
    used: 0,
  };
  const claims = processObject(ctx, payload, '');
  if (ctx.used !== ctx.byDigest.size) {
    throw refuse(
      'UNREFERENCED_DISCLOSURE',
      `${ctx.byDigest.size - ctx.used} disclosure(s) match no digest in the token`,
    );
  }
  if (binding !== undefined) applyRefBinding(binding, claims, ctx.disclosed);
  return { claims, disclosed: [...ctx.disclosed].sort() };
}

/** The reference binding of a presentation split into `parts`, parsed and checked against it. */
function bindingOf(token: string, parts: TokenParts, iss: string, jti: string): ParsedRefBinding | undefined {
  const { binding } = parts;
  if (binding === undefined) return undefined;
  return parseRefBinding(binding, token.slice(0, token.length - binding.length), iss, jti);
}

/** The event a parsed token stands for: its envelope, its disclosed claims and its binding's agreement. */
function verifiedEvent(
  jwt: ParsedJwt,
  issuedAt: Date,
  { claims, disclosed }: { claims: Json; disclosed: string[] },
  binding: ParsedRefBinding | undefined,
): VerifiedEvent {
  return {
    eventId: jwt.jti,
    type: jwt.type,
    issuer: jwt.iss,
    issuedAt,
    kid: jwt.kid,
    claims,
    disclosed,
    ...(binding === undefined ? {} : { refAgreement: binding.agreementId }),
  };
}

/**
 * The claims of a sealed event read back from the origin's own WBX_EVENTS, which only its gateway
 * writes, or from a recipient's WBX_INBOX, which holds only what its gateway verified: the structure and
 * digests are checked (and a reference binding applied), no signature is. Never use it on anything
 * received.
 */
export function readOwnSealedEvent(token: string): VerifiedEvent {
  const { parts, decoded } = splitAndDecode(token, Number.MAX_SAFE_INTEGER);
  const jwt = parseJwt(parts);
  const binding = bindingOf(token, parts, jwt.iss, jwt.jti);
  const found = disclosedClaims(parts, decoded, jwt.payload, binding);
  return verifiedEvent(jwt, new Date(jwt.iat * 1000), found, binding);
}

/**
 * Verifies a sealed event or a presentation of it: known origin, its key valid at `iat` and not
 * revoked, EdDSA signature, every disclosure's digest referenced exactly once, then the disclosed claims
 * against the schema. A reference binding after the last `~` (`ref-binding.ts`) must be the origin's, by
 * a key of the origin valid at the binding's `iat`, over this very presentation; its keyed references
 * become the persons' `subjectRef` claims. Throws a SealError with a code; its message is generic, its
 * `detail` precise.
 */
export function verifyPresentation(token: string, options: VerifyOptions): VerifiedEvent {
  const { parts, decoded } = splitAndDecode(token, options.maxBytes);
  const jwt = parseJwt(parts);
  const { kid, payload, iss, jti, iat, type, version } = jwt;
  const issuedAt = new Date(iat * 1000);
  const key = resolveKey(options.manifest, iss, kid, issuedAt);
  const signature = fromB64u(parts.signature, true);
  const signed = Buffer.from(`${parts.header}.${parts.payload}`);
  if (signature?.length !== 64 || !verifySignature(null, signed, key, signature)) {
    throw refuse('BAD_SIGNATURE', `signature by ${kid} does not verify`);
  }
  const now = (options.now ?? new Date()).getTime();
  if (iat > now / 1000 + (options.iatSkewSeconds ?? DEFAULT_IAT_SKEW_S)) {
    throw refuse('ISSUED_IN_FUTURE', `iat ${issuedAt.toISOString()} is in the future`);
  }

  const binding = bindingOf(token, parts, iss, jti);
  if (binding !== undefined) {
    const bindingKey = resolveKey(options.manifest, iss, binding.kid, binding.issuedAt);
    if (!refBindingSignatureValid(binding, bindingKey)) {
      throw refuse('BAD_SIGNATURE', `reference binding by ${binding.kid} does not verify`);
    }
    if (binding.issuedAt.getTime() > now + (options.iatSkewSeconds ?? DEFAULT_IAT_SKEW_S) * 1000) {
      throw refuse('ISSUED_IN_FUTURE', `binding iat ${binding.issuedAt.toISOString()} is in the future`);
    }
  }
  const { claims, disclosed } = disclosedClaims(parts, decoded, payload, binding);
  const body: Json = {};
  for (const k in claims) if (!ALWAYS_VISIBLE_SET.has(k)) body[k] = claims[k];
  const violations = validateDisclosedClaims(type, body);
  if (!isPartnerCode(iss)) violations.push({ path: 'iss', code: 'UNKNOWN_PARTNER', message: iss });
  if (!UUID_V7_RE.test(jti))
    violations.push({ path: 'jti', code: 'INVALID_FORMAT', message: 'not a UUIDv7' });
  if (version !== SCHEMA_VERSION) {
    violations.push({ path: 'wbx_v', code: 'UNSUPPORTED_SCHEMA_VERSION', message: String(version) });
  }
  if (violations.length > 0) {
    const detail = violations.map((v) => `${v.path} ${v.code}`).join('; ');
    throw new SealError('SCHEMA_VIOLATION', 'disclosed claims violate the schema', detail);
  }
  return verifiedEvent(jwt, issuedAt, { claims, disclosed }, binding);
}

/** What `tryVerifyPresentation` gives: the verified event, or the refusal's code and detail. */
export type VerifyOutcome =
  | ({ readonly ok: true } & VerifiedEvent)
  | { readonly ok: false; readonly code: SealErrorCode; readonly detail?: string };

/**
 * `verifyPresentation` with a refusal as a result instead of an exception (for batches, and for results
 * that cross a thread). Anything but a SealError is still thrown.
 */
export function tryVerifyPresentation(token: string, options: VerifyOptions): VerifyOutcome {
  try {
    return { ok: true, ...verifyPresentation(token, options) };
  } catch (e) {
    if (e instanceof SealError)
      return { ok: false, code: e.code, ...(e.detail === undefined ? {} : { detail: e.detail }) };
    throw e;
  }
}
