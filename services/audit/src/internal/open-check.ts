import { createPublicKey, type KeyObject } from 'node:crypto';

import type { JetStreamManager, MsgRequest } from '@nats-io/jetstream';
import { RegistryError, resolveSigningKey, type ManifestBody } from '@wbx/registry';

import type { AuditAnchor } from '../anchor.js';
import { AUDIT_STREAM, hashBytes, isGenesis, tryDecodeAuditEntry, type CheckpointEntry } from '../entry.js';
import { AuditError } from '../errors.js';
import { checkpointSignatureValid } from './checkpoint-signature.js';
import type { Head } from './head.js';

/** The public key a checkpoint must verify under, or why there is none. */
export type CheckpointKeys = (checkpoint: CheckpointEntry) => KeyObject | string;

/**
 * Checkpoint keys of `origin`: from the manifest (valid at the checkpoint's `at`) when one is given,
 * else only the signer's own key.
 */
export function checkpointKeys(
  origin: string,
  signer: { readonly kid: string; readonly privateKey: KeyObject },
  manifest: ManifestBody | undefined,
): CheckpointKeys {
  const own = createPublicKey(signer.privateKey);
  return (cp) => {
    if (manifest === undefined) {
      return cp.kid === signer.kid ? own : `key ${cp.kid} is not the signer's and no manifest resolves it`;
    }
    try {
      return resolveSigningKey(manifest, origin, cp.kid, new Date(cp.at));
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      return `key ${cp.kid}: ${e.code}`;
    }
  };
}

const broken = (subject: string, detail: string): AuditError =>
  new AuditError('CHAIN_BROKEN', `${subject}: ${detail}; run wbx audit verify`);

function signatureProblem(cp: CheckpointEntry, keys: CheckpointKeys): string | undefined {
  const key = keys(cp);
  if (typeof key === 'string') return `checkpoint ${cp.seq} cannot be checked: ${key}`;
  return checkpointSignatureValid(cp, key) ? undefined : `checkpoint ${cp.seq}'s signature does not verify`;
}

/** Throws CHAIN_BROKEN unless the first entry of `subject` is a genesis checkpoint signed by the origin. */
export async function checkGenesis(
  jsm: JetStreamManager,
  subject: string,
  keys: CheckpointKeys,
): Promise<void> {
  // {seq, next_by_subj}: the first message of the subject (nats-server ≥ 2.9; nats.js types only the
  // other two forms of the request).
  const query = { seq: 1, next_by_subj: subject } as unknown as MsgRequest;
  const first = await jsm.streams.getMessage(AUDIT_STREAM, query);
  if (first === null) throw broken(subject, 'no genesis checkpoint: the chain is empty');
  const d = tryDecodeAuditEntry(first.data);
  if (!d.ok) throw broken(subject, `the first entry (stream seq ${first.seq}) is not an audit entry`);
  if (!isGenesis(d.entry)) {
    throw broken(
      subject,
      `no genesis checkpoint: the first entry (stream seq ${first.seq}) is ${d.entry.kind} seq ${d.entry.seq}` +
        (d.entry.seq > 1 ? ' — the chain was truncated' : ''),
    );
  }
  const problem = signatureProblem(d.entry, keys);
  if (problem !== undefined) throw broken(subject, `genesis ${problem}`);
}

/**
 * What an AuditLog checks before it continues a chain it did not just create: the chain starts with a
 * signed genesis; it still holds the anchored checkpoint (if any) where it was stored; and its entries
 * since the last checkpoint are linked and numbered in order up to a checkpoint whose signature
 * verifies. An empty chain passes only without an anchor (a chain is then created).
 * Throws CHAIN_BROKEN or ANCHOR_MISMATCH.
 */
export async function checkChainAtOpen(
  jsm: JetStreamManager,
  subject: string,
  head: Head,
  anchor: AuditAnchor | undefined,
  keys: CheckpointKeys,
): Promise<void> {
  if (head.seq === 0) {
    if (anchor === undefined) return;
    throw new AuditError(
      'ANCHOR_MISMATCH',
      `${subject}: ${AUDIT_STREAM} holds no entry, but checkpoint ${anchor.seq} was stored (anchor): ` +
        'the stream was purged or replaced; refusing to start a new chain',
    );
  }
  await checkGenesis(jsm, subject, keys);
  if (anchor !== undefined) {
    const m =
      head.seq < anchor.seq ? null : await jsm.streams.getMessage(AUDIT_STREAM, { seq: anchor.streamSeq });
    if (m === null || m.subject !== subject || hashBytes(m.data) !== anchor.hash) {
      throw new AuditError(
        'ANCHOR_MISMATCH',
        `${subject}: the chain (head seq ${head.seq}) does not hold the anchored checkpoint ${anchor.seq} at ` +
          `stream seq ${anchor.streamSeq}: it was truncated, purged or rebuilt; refusing to continue it`,
      );
    }
  }
  // From the head back to the last checkpoint, which must be signed.
  let seq = head.seq;
  let hash = head.hash;
  for (let s = head.streamSeq; s >= 1; s -= 1) {
    const m = await jsm.streams.getMessage(AUDIT_STREAM, { seq: s });
    if (m === null || m.subject !== subject) continue;
    if (hashBytes(m.data) !== hash)
      throw broken(subject, `stream seq ${s} is not the entry the chain links to`);
    const d = tryDecodeAuditEntry(m.data);
    if (!d.ok) throw broken(subject, `stream seq ${s} is not an audit entry`);
    if (d.entry.seq !== seq)
      throw broken(subject, `stream seq ${s} carries seq ${d.entry.seq}, expected ${seq}`);
    if (d.entry.kind === 'checkpoint') {
      const problem = signatureProblem(d.entry, keys);
      if (problem !== undefined) throw broken(subject, problem);
      return;
    }
    seq -= 1;
    hash = d.entry.prev;
  }
  throw broken(subject, `entries 1..${seq} are missing`);
}
