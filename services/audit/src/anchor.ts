import * as z from 'zod';

import { PARTNER_CODE_RE } from './entry.js';
import { AuditError } from './errors.js';

/**
 * The latest signed checkpoint a writer stored, kept outside the stream (the gateway keeps it in its
 * data directory): whoever can rewrite `WBX_AUDIT` cannot move it. A stream that no longer holds the
 * entry at `seq` with `hash` — purged, truncated, rebuilt — does not continue the chain that was
 * anchored.
 */
export interface AuditAnchor {
  readonly origin: string;
  /** Chain position of the checkpoint. */
  readonly seq: number;
  /** Hash of the checkpoint's canonical bytes (what the next entry's `prev` is). */
  readonly hash: string;
  /** Stream sequence the checkpoint was stored at. */
  readonly streamSeq: number;
  /** The checkpoint's `at`. */
  readonly at: string;
}

/** Where an AuditLog keeps its anchor; `save` must replace the previous one atomically. */
export interface AuditAnchorStore {
  /** The anchor saved last, or undefined if none was ever saved. Throws INVALID_ANCHOR. */
  load(): Promise<AuditAnchor | undefined>;
  save(anchor: AuditAnchor): Promise<void>;
}

const anchorSchema = z.strictObject({
  origin: z.string().regex(PARTNER_CODE_RE),
  seq: z.int().min(1),
  hash: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  streamSeq: z.int().min(1),
  at: z.iso.datetime(),
});

/** Checks the form of a parsed anchor document; throws INVALID_ANCHOR naming the fields (never values). */
export function parseAuditAnchor(json: unknown): AuditAnchor {
  const parsed = anchorSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(anchor)'}: ${i.message}`);
    throw new AuditError('INVALID_ANCHOR', `not an audit anchor: ${issues.join('; ')}`);
  }
  return parsed.data;
}
