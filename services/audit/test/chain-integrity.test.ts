import type { KeyObject } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  AUDIT_STREAM,
  AuditError,
  GENESIS_HASH,
  encodeAuditEntry,
  hashAuditEntry,
  verifyAuditChain,
  type AuditAnchor,
  type AuditAnchorStore,
  type AuditEntry,
  type AuditMessage,
  type CheckpointEntry,
  type DisclosureEntry,
} from '../src/index.js';
import { signCheckpoint } from '../src/internal/checkpoint-signature.js';
import { auditTestBed, entriesOf, openLog, readAll, record, testKey } from './support.js';

// A purged, truncated or foreign-filled WBX_AUDIT (what a hostile partner did in the trial, through a
// JetStream reply subject) must never pass as an intact chain, nor be restarted or continued.

const { key, manifest, nats, verify } = auditTestBed();
const SUBJECT = 'wbx.audit.MK';

/** An anchor kept in memory (the gateway keeps it in a file). */
class MemoryAnchor implements AuditAnchorStore {
  readonly saved: AuditAnchor[] = [];
  load(): Promise<AuditAnchor | undefined> {
    return Promise.resolve(this.saved.at(-1));
  }
  save(anchor: AuditAnchor): Promise<void> {
    this.saved.push(anchor);
    return Promise.resolve();
  }
}

/**
 * MK's chain written by the AuditLog: genesis 1, 2-6, cp 7, 8-12, cp 13, 14-15, cp 16 (12 disclosures,
 * a checkpoint every 5 and one at close).
 */
async function writeChain(anchor?: AuditAnchorStore): Promise<AuditEntry[]> {
  const log = await openLog(nats(), key, {
    checkpointEvery: { entries: 5, ms: 0 },
    ...(anchor === undefined ? {} : { anchor }),
  });
  for (let i = 0; i < 12; i += 1) await log.append(record(i));
  await log.close();
  return entriesOf(await readAll(nats().jsm));
}

async function purge(): Promise<void> {
  await nats().jsm.streams.purge(AUDIT_STREAM);
}

async function publishAll(entries: readonly (AuditEntry | string)[]): Promise<void> {
  for (const e of entries) await nats().js.publish(SUBJECT, typeof e === 'string' ? e : encodeAuditEntry(e));
}

const broken = async (result: ReturnType<typeof verifyAuditChain>) => {
  const r = await result;
  if (r.ok) throw new Error('expected a broken chain');
  return r.firstBroken;
};

const auditError = async (p: Promise<unknown>): Promise<AuditError> => {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (e instanceof AuditError) return e;
  throw new Error(`expected an AuditError, got ${String(e)}`);
};

/** A genesis and `n` disclosures, linked, its genesis signed by `signer` (an attacker's key). */
function forgedChain(signer: { kid: string; privateKey: KeyObject }, n: number): AuditEntry[] {
  const at = new Date().toISOString();
  const out: AuditEntry[] = [
    signCheckpoint(
      {
        kind: 'checkpoint',
        seq: 1,
        prev: GENESIS_HASH,
        at,
        covers: { from: 1, to: 0 },
        head: GENESIS_HASH,
        kid: signer.kid,
      },
      signer.privateKey,
    ),
  ];
  for (let i = 0; i < n; i += 1) {
    const prev = hashAuditEntry(out.at(-1)!);
    const r = record(100 + i);
    out.push({ kind: 'disclosure', seq: out.length + 1, prev, at, ...r, paths: [...r.paths].sort() });
  }
  return out;
}

/** A disclosure linked to `after` (anyone who can read the head can compute it). */
function linkedDisclosure(after: AuditEntry): DisclosureEntry {
  const r = record(999);
  return {
    kind: 'disclosure',
    seq: after.seq + 1,
    prev: hashAuditEntry(after),
    at: new Date().toISOString(),
    ...r,
    paths: [...r.paths].sort(),
  };
}

describe('verifyAuditChain on a stream purged, truncated or filled by someone else', () => {
  it('reports NO_GENESIS for a purged, empty stream', async () => {
    await writeChain();
    await purge();
    expect(await broken(verify())).toEqual({
      seq: 1,
      streamSeq: 0,
      reason: 'NO_GENESIS',
      detail: 'no genesis checkpoint: the chain is empty',
    });
  });

  it('reports a stream whose first entries were removed as truncated, and a chain begun without genesis', async () => {
    const entries = await writeChain();
    await nats().jsm.streams.purge(AUDIT_STREAM, { seq: 4 }); // stream seqs 1..3: entries 1..3
    const b = await broken(verify());
    expect(b).toMatchObject({ seq: 1, streamSeq: 4, reason: 'SEQ_GAP' });
    expect(b.detail).toBe(
      'entries 1..3 missing; next present entry is 4 (the chain was truncated: its genesis checkpoint is gone)',
    );
    // A chain whose seq 1 is a disclosure does not prove where it starts.
    const first = { ...(entries[1] as DisclosureEntry), seq: 1, prev: GENESIS_HASH };
    expect(await broken(verifyAuditChain([first], manifest, 'MK'))).toMatchObject({
      seq: 1,
      reason: 'NO_GENESIS',
      detail: 'no genesis checkpoint: the first entry is a disclosure',
    });
  });

  it('reports junk and forged entries stored in the stream', async () => {
    const entries = await writeChain();
    // What the trial stored: a JetStream API response published to the audit subject.
    await publishAll([
      '{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":16}',
    ]);
    expect(await broken(verify())).toMatchObject({ seq: 17, streamSeq: 17, reason: 'MALFORMED' });

    // Purged and refilled with a chain of the attacker's, its genesis signed with another key (same kid).
    await purge();
    await publishAll(forgedChain(testKey(), 3));
    expect(await broken(verify())).toMatchObject({ seq: 1, reason: 'BAD_CHECKPOINT_SIGNATURE' });

    // Appended to the intact chain: linked disclosures are reported as unsealed (not signed); a
    // checkpoint over them that the origin did not sign is refused.
    const appended = linkedDisclosure(entries.at(-1)!);
    const ok = await verifyAuditChain([...entries, appended], manifest, 'MK');
    expect(ok).toMatchObject({ ok: true, entries: 17, unsealed: 1, lastCheckpoint: 16 });
    const h = hashAuditEntry(appended);
    const forgedCp = signCheckpoint(
      {
        kind: 'checkpoint',
        seq: 18,
        prev: h,
        at: appended.at,
        covers: { from: 17, to: 17 },
        head: h,
        kid: key.kid,
      },
      testKey().privateKey,
    );
    expect(await broken(verifyAuditChain([...entries, appended, forgedCp], manifest, 'MK'))).toMatchObject({
      seq: 18,
      reason: 'BAD_CHECKPOINT_SIGNATURE',
    });
  });

  it('reports an entry stored under another subject as FOREIGN_SUBJECT', async () => {
    await writeChain();
    const messages: AuditMessage[] = await readAll(nats().jsm);
    expect(messages.every((m) => m.subject === SUBJECT)).toBe(true);
    const moved = messages.map((m, i) => (i === 4 ? { ...m, subject: 'wbx.audit.RS' } : m));
    expect(await broken(verifyAuditChain(moved, manifest, 'MK'))).toMatchObject({
      seq: 5,
      reason: 'FOREIGN_SUBJECT',
      detail: `stored under wbx.audit.RS, not ${SUBJECT}`,
    });
  });

  it('with the anchor, refuses a chain cut off at its end or holding another entry at the anchored seq', async () => {
    const anchors = new MemoryAnchor();
    const entries = await writeChain(anchors);
    const anchor = anchors.saved.at(-1)!;
    expect(anchor).toMatchObject({
      origin: 'MK',
      seq: 16,
      hash: hashAuditEntry(entries[15]!),
      streamSeq: 16,
    });
    expect(await verifyAuditChain(await readAll(nats().jsm), manifest, 'MK', { anchor })).toMatchObject({
      ok: true,
      anchored: true,
    });
    // Rebuilt with the first 13 entries: a valid, shorter chain — unless the anchor says otherwise.
    await purge();
    await publishAll(entries.slice(0, 13));
    expect(await verify()).toMatchObject({ ok: true, entries: 13 });
    const b = await broken(verifyAuditChain(await readAll(nats().jsm), manifest, 'MK', { anchor }));
    expect(b).toMatchObject({ seq: 14, reason: 'ANCHOR_MISMATCH' });
    expect(b.detail).toBe('the chain ends at seq 13, before the anchored checkpoint 16: it was cut off');
    const other = { ...anchor, seq: 13, hash: hashAuditEntry(entries[11]!) };
    expect(await broken(verifyAuditChain(entries, manifest, 'MK', { anchor: other }))).toMatchObject({
      seq: 13,
      reason: 'ANCHOR_MISMATCH',
    });
    const foreign = { ...anchor, origin: 'RS' };
    expect((await auditError(verifyAuditChain(entries, manifest, 'MK', { anchor: foreign }))).code).toBe(
      'INVALID_ANCHOR',
    );
  });
});

describe('AuditLog never restarts a chain nor continues one that is not its own', () => {
  it('anchors its genesis and every checkpoint it stores, and continues its own chain', async () => {
    const anchors = new MemoryAnchor();
    const entries = await writeChain(anchors);
    expect(anchors.saved.map((a) => a.seq)).toEqual([1, 7, 13, 16]);
    for (const a of anchors.saved) expect(a.hash).toBe(hashAuditEntry(entries[a.seq - 1]!));
    const log = await openLog(nats(), key, { anchor: anchors });
    expect((await log.append(record(50))).seq).toBe(17);
    await log.close();
    expect(await verify()).toMatchObject({ ok: true, entries: 18 });
  });

  it('fails for good with CHAIN_BROKEN when its stream is purged while it runs, and writes nothing', async () => {
    const errors: unknown[] = [];
    const log = await openLog(nats(), key, { onError: (e) => errors.push(e) });
    for (let i = 0; i < 3; i += 1) await log.append(record(i));
    expect(log.failure).toBeUndefined();
    await purge();
    const first = await auditError(log.append(record(3)));
    expect(first.code).toBe('CHAIN_BROKEN');
    expect(first.message).toContain('the chain now ends at seq 0, before entry 4');
    expect(log.failure).toBe(first);
    expect(errors).toEqual([first]);
    // Every later write is refused, and nothing was written: no new chain.
    expect(await auditError(log.append(record(4)))).toBe(first);
    expect(await auditError(log.checkpoint())).toBe(first);
    expect((await nats().jsm.streams.info(AUDIT_STREAM)).state.messages).toBe(0);
    expect(await broken(verify())).toMatchObject({ reason: 'NO_GENESIS' });
  });

  it('fails with CHAIN_BROKEN when junk lands on its subject, or the stream is refilled with another chain', async () => {
    const junked = await openLog(nats(), key);
    await junked.append(record(0));
    await publishAll(['{"type":"io.nats.jetstream.api.v1.consumer_delete_response","success":true}']);
    expect((await auditError(junked.append(record(1)))).code).toBe('CHAIN_BROKEN');
    const before = (await nats().jsm.streams.info(AUDIT_STREAM)).state.messages;
    expect(await auditError(junked.append(record(2)))).toBe(junked.failure);
    expect((await nats().jsm.streams.info(AUDIT_STREAM)).state.messages).toBe(before);

    await purge();
    const log = await openLog(nats(), key);
    for (let i = 0; i < 3; i += 1) await log.append(record(i)); // head: seq 4
    await purge();
    await publishAll(forgedChain(key, 6)); // a longer chain, even signed with MK's key
    expect((await auditError(log.append(record(3)))).code).toBe('CHAIN_BROKEN');
    expect(log.failure?.message).toContain('no longer holds entry 4');
  });

  it('at open, refuses a purged stream it had anchored instead of starting a new chain', async () => {
    const anchors = new MemoryAnchor();
    await writeChain(anchors);
    await purge();
    const e = await auditError(openLog(nats(), key, { anchor: anchors }));
    expect(e.code).toBe('ANCHOR_MISMATCH');
    expect(e.message).toContain('refusing to start a new chain');
    expect((await nats().jsm.streams.info(AUDIT_STREAM)).state.messages).toBe(0);
  });

  it('at open, refuses a stream rebuilt without the anchored checkpoint', async () => {
    const anchors = new MemoryAnchor();
    const entries = await writeChain(anchors);
    await purge();
    await publishAll(entries.slice(0, 13));
    expect((await auditError(openLog(nats(), key, { anchor: anchors }))).code).toBe('ANCHOR_MISMATCH');
    await purge();
    await publishAll(entries); // same entries, other stream positions: not where the anchor saw them
    expect((await auditError(openLog(nats(), key, { anchor: anchors }))).code).toBe('ANCHOR_MISMATCH');
  });

  it('at open, refuses a chain without its signed genesis: truncated, or begun with another key', async () => {
    await writeChain();
    await nats().jsm.streams.purge(AUDIT_STREAM, { seq: 4 });
    const truncated = await auditError(openLog(nats(), key));
    expect(truncated.code).toBe('CHAIN_BROKEN');
    expect(truncated.message).toContain(
      'no genesis checkpoint: the first entry (stream seq 4) is disclosure seq 4',
    );
    await purge();
    await publishAll(forgedChain(testKey(), 2));
    const forged = await auditError(openLog(nats(), key));
    expect(forged.code).toBe('CHAIN_BROKEN');
    expect(forged.message).toContain("genesis checkpoint 1's signature does not verify");
  });

  it('at open, refuses a forged checkpoint after the head', async () => {
    const entries = await writeChain();
    const appended = linkedDisclosure(entries.at(-1)!);
    const h = hashAuditEntry(appended);
    const forgedCp: CheckpointEntry = signCheckpoint(
      {
        kind: 'checkpoint',
        seq: 18,
        prev: h,
        at: appended.at,
        covers: { from: 17, to: 17 },
        head: h,
        kid: key.kid,
      },
      testKey().privateKey,
    );
    await publishAll([appended, forgedCp]);
    const e = await auditError(openLog(nats(), key));
    expect(e.code).toBe('CHAIN_BROKEN');
    expect(e.message).toContain("checkpoint 18's signature does not verify");
  });
});
