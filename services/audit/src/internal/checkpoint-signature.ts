import { sign, verify, type KeyObject } from 'node:crypto';

import type { CheckpointEntry } from '../entry.js';
import { canonicalJson } from './canonical-json.js';

export type UnsignedCheckpoint = Omit<CheckpointEntry, 'sig'>;

/**
 * The bytes a checkpoint signature covers: the canonical JSON of the checkpoint without `sig`. They
 * start with `{`, so they can never be a JWS signing input (base64url `.` base64url) made with the
 * same key.
 */
function signingInput(checkpoint: UnsignedCheckpoint): Buffer {
  const { kind, seq, prev, at, covers, head, kid } = checkpoint;
  return Buffer.from(canonicalJson({ kind, seq, prev, at, covers, head, kid }), 'utf8');
}

export function signCheckpoint(checkpoint: UnsignedCheckpoint, privateKey: KeyObject): CheckpointEntry {
  const sig = sign(null, signingInput(checkpoint), privateKey).toString('base64url');
  return { ...checkpoint, sig };
}

export function checkpointSignatureValid(checkpoint: CheckpointEntry, publicKey: KeyObject): boolean {
  try {
    return verify(null, signingInput(checkpoint), publicKey, Buffer.from(checkpoint.sig, 'base64url'));
  } catch {
    return false;
  }
}
