import { createHash } from 'node:crypto';

import * as z from 'zod';

import { AuditError } from './errors.js';
import { canonicalJson } from './internal/canonical-json.js';

/** The stream that holds a partner's audit chain (one subject per origin). */
export const AUDIT_STREAM = 'WBX_AUDIT';

/** `prev` of the first entry: 32 zero bytes, base64url (43 × 'A'). */
export const GENESIS_HASH = 'A'.repeat(43);

/**
 * How something was disclosed: presentations, aggregates, a query answer, a hit/no-hit, or refused; or
 * `ack`: the recipient acknowledged a correction or withdrawal (the entry's event) it was notified of.
 */
export const DISCLOSURE_MODES = ['records', 'aggregate', 'query', 'match', 'denied', 'ack'] as const;
export type DisclosureMode = (typeof DISCLOSURE_MODES)[number];

/** What the share worker (or Exchange) reports for one disclosure. */
export interface DisclosureRecord {
  /** Partner code of the recipient, e.g. `RS`. */
  readonly recipient: string;
  readonly agreementId: string;
  readonly eventId: string;
  /** Event type, e.g. `crossing.irregular`. */
  readonly eventType: string;
  /** Disclosed field paths, e.g. `persons.citizenship`; stored sorted and without duplicates. */
  readonly paths: readonly string[];
  readonly mode: DisclosureMode;
  readonly purpose?: string | undefined;
  /**
   * For one entry that covers many events (a page of a query answer, the hits of a match): their ids,
   * at most {@link MAX_EVENT_IDS}; `eventId` then names the call.
   */
  readonly eventIds?: readonly string[] | undefined;
  /** For a refusal (mode `denied`): the error code the caller got, e.g. PURPOSE_NOT_AGREED. */
  readonly reason?: string | undefined;
}

/** The most event ids one entry lists. */
export const MAX_EVENT_IDS = 1_000;

interface ChainLink {
  /** 1-based position in the origin's chain; checkpoints count too. */
  readonly seq: number;
  /** Hash of the previous entry's canonical bytes, or {@link GENESIS_HASH} for seq 1. */
  readonly prev: string;
  /** RFC 3339 UTC. */
  readonly at: string;
}

/** One disclosure in the chain. */
export interface DisclosureEntry extends DisclosureRecord, ChainLink {
  readonly kind: 'disclosure';
}

/**
 * A signed statement by the origin that entries `covers.from`..`covers.to` (all entries since the
 * previous checkpoint) end in `head`. `sig` is Ed25519 by `kid` over the canonical bytes of the
 * checkpoint without `sig`.
 *
 * Every chain starts with one: the **genesis checkpoint** (seq 1, prev {@link GENESIS_HASH}, covers
 * 1..0 — nothing — and head {@link GENESIS_HASH}), written when the chain is created. It proves where the
 * chain starts: a stream whose first entry is not a genesis signed by the origin was truncated, purged
 * or filled by someone else.
 */
export interface CheckpointEntry extends ChainLink {
  readonly kind: 'checkpoint';
  readonly covers: { readonly from: number; readonly to: number };
  /** Hash of entry `covers.to` (equal to `prev`). */
  readonly head: string;
  readonly kid: string;
  /** Ed25519 signature, base64url. */
  readonly sig: string;
}

export type AuditEntry = DisclosureEntry | CheckpointEntry;

/** Partner codes as WBX uses them: ISO 3166-1 alpha-2 or an agency (FRONTEX). */
export const PARTNER_CODE_RE = /^[A-Z]{2,8}$/;
const HASH_RE = /^[A-Za-z0-9_-]{43}$/;
const SIG_RE = /^[A-Za-z0-9_-]{86}$/;
const PATH_RE = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/;

const text = (max: number) => z.string().min(1).max(max);
const recordShape = {
  recipient: z.string().regex(PARTNER_CODE_RE),
  agreementId: text(128),
  eventId: text(128),
  eventType: z.string().regex(/^[a-z]+(\.[a-z]+)+$/),
  paths: z.array(z.string().max(128).regex(PATH_RE)).max(512),
  mode: z.enum(DISCLOSURE_MODES),
  purpose: text(64).optional(),
  eventIds: z.array(text(128)).max(MAX_EVENT_IDS).optional(),
  reason: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
    .optional(),
};
const linkShape = {
  seq: z.int().min(1),
  prev: z.string().regex(HASH_RE),
  at: z.iso.datetime(),
};
const isSortedSet = (paths: readonly string[]): boolean =>
  paths.every((p, i) => i === 0 || (paths[i - 1] ?? '') < p);

export const disclosureRecordSchema = z.strictObject(recordShape);
const entrySchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('disclosure'),
    ...linkShape,
    ...recordShape,
    paths: recordShape.paths.refine(isSortedSet, { error: 'must be sorted and without duplicates' }),
  }),
  z.strictObject({
    kind: z.literal('checkpoint'),
    ...linkShape,
    covers: z.strictObject({ from: z.int().min(1), to: z.int().min(0) }),
    head: z.string().regex(HASH_RE),
    kid: text(64),
    sig: z.string().regex(SIG_RE),
  }),
]);

/** Whether `entry` has the form of a genesis checkpoint (its signature is not checked here). */
export function isGenesis(entry: AuditEntry): entry is CheckpointEntry {
  return (
    entry.kind === 'checkpoint' &&
    entry.seq === 1 &&
    entry.prev === GENESIS_HASH &&
    entry.covers.from === 1 &&
    entry.covers.to === 0 &&
    entry.head === GENESIS_HASH
  );
}

/** The canonical bytes of an entry (RFC 8785 JCS): what is stored, hashed and (without `sig`) signed. */
export function encodeAuditEntry(entry: AuditEntry): Uint8Array {
  return new TextEncoder().encode(canonicalJson(entry));
}

/** base64url SHA-256 of canonical entry bytes: the `prev` of the next entry. */
export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url');
}

export function hashAuditEntry(entry: AuditEntry): string {
  return hashBytes(encodeAuditEntry(entry));
}

export type DecodedEntry = { ok: true; entry: AuditEntry } | { ok: false; detail: string };

/** Parses stored bytes: UTF-8 JSON of an entry, and exactly its canonical form. Never throws. */
export function tryDecodeAuditEntry(data: Uint8Array | string): DecodedEntry {
  let json: unknown;
  let source: string;
  try {
    source = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data);
    json = JSON.parse(source);
  } catch {
    return { ok: false, detail: 'not UTF-8 JSON' };
  }
  const parsed = entrySchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(entry)'}: ${i.message}`);
    return { ok: false, detail: issues.join('; ') };
  }
  if (canonicalJson(parsed.data) !== source) return { ok: false, detail: 'not in canonical form' };
  return { ok: true, entry: parsed.data };
}

/** {@link tryDecodeAuditEntry}, throwing INVALID_RECORD. */
export function decodeAuditEntry(data: Uint8Array | string): AuditEntry {
  const r = tryDecodeAuditEntry(data);
  if (!r.ok) throw new AuditError('INVALID_RECORD', `not an audit entry: ${r.detail}`);
  return r.entry;
}

/** The NATS subject of an origin's audit chain. */
export function auditSubject(origin: string): string {
  if (!PARTNER_CODE_RE.test(origin)) {
    throw new AuditError('INVALID_OPTIONS', `origin: "${origin}" is not a partner code`);
  }
  return `wbx.audit.${origin}`;
}
