import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  encodeAuditEntry,
  hashAuditEntry,
  verifyAuditChain,
  type AuditEntry,
  type AuditMessage,
  type CheckpointEntry,
} from '../src/index.js';
import { signCheckpoint } from '../src/internal/checkpoint-signature.js';
import {
  entriesOf,
  manifestWith,
  openLog,
  readAll,
  record,
  startNats,
  testKey,
  type Nats,
} from './support.js';

const key = testKey();
const manifest = manifestWith(key.signingKey);
let messages: AuditMessage[];
let entries: AuditEntry[];

// A chain written by the real AuditLog: its genesis, 35 disclosures, a checkpoint every 10 and one at
// close — genesis 1, 2-11, cp 12, 13-22, cp 23, 24-33, cp 34, 35-39, cp 40.
let nats: Nats;
beforeAll(async () => {
  nats = await startNats();
  const log = await openLog(nats, key, { checkpointEvery: { entries: 10, ms: 0 } });
  for (let i = 0; i < 35; i += 1) await log.append(record(i));
  await log.close();
  messages = await readAll(nats.jsm);
  entries = entriesOf(messages);
});
afterAll(async () => {
  await nats[Symbol.asyncDispose]();
});

const at = (seq: number): AuditEntry => entries[seq - 1]!;
const replace = (seq: number, e: AuditEntry): AuditEntry[] => entries.map((x) => (x.seq === seq ? e : x));
const broken = async (input: Parameters<typeof verifyAuditChain>[0], m = manifest) => {
  const r = await verifyAuditChain(input, m, 'MK');
  if (r.ok) throw new Error('expected a broken chain');
  return r.firstBroken;
};

/**
 * Recomputes every `prev` (and, with `heads`, every checkpoint's `head`), as an attacker with write
 * access to the stream but without the partner's key could.
 */
function relink(chain: readonly AuditEntry[], heads = false): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const e of chain) {
    const prev = out.length === 0 ? e.prev : hashAuditEntry(out[out.length - 1]!);
    out.push(e.kind === 'checkpoint' && heads ? { ...e, prev, head: prev } : { ...e, prev });
  }
  return out;
}

describe('verifyAuditChain', () => {
  it('accepts the chain as stored and as entries, counting disclosures, checkpoints and unsealed', async () => {
    const expected = {
      ok: true,
      entries: 40,
      disclosures: 35,
      checkpoints: 5,
      unsealed: 0,
      lastCheckpoint: 40,
    };
    expect(await verifyAuditChain(messages, manifest, 'MK')).toMatchObject(expected);
    expect(await verifyAuditChain(entries, manifest, 'MK')).toMatchObject(expected);
    const streamed = (async function* () {
      for (const m of messages) yield await Promise.resolve(m);
    })();
    expect(await verifyAuditChain(streamed, manifest, 'MK')).toMatchObject(expected);
    expect(entries.filter((e) => e.kind === 'checkpoint').map((e) => e.seq)).toEqual([1, 12, 23, 34, 40]);
  });

  it('reports the entries after the last checkpoint as unsealed', async () => {
    expect(await verifyAuditChain(entries.slice(0, 37), manifest, 'MK')).toMatchObject({
      ok: true,
      entries: 37,
      unsealed: 3,
      lastCheckpoint: 34,
      head: { seq: 37 },
    });
    expect(await verifyAuditChain(entries.slice(0, 1), manifest, 'MK')).toMatchObject({
      ok: true,
      entries: 1,
      checkpoints: 1,
      unsealed: 0,
    });
  });

  it('names the altered entry when any one entry is altered', async () => {
    for (const e of entries) {
      const altered: AuditEntry =
        e.kind === 'disclosure' ? { ...e, recipient: 'XK' } : { ...e, at: '2030-01-01T00:00:00.000Z' };
      const b = await broken(replace(e.seq, altered));
      expect(b.seq, `altered entry ${e.seq}`).toBe(e.seq);
      expect(b.reason).toBe(e.kind === 'disclosure' ? 'HASH_MISMATCH' : 'BAD_CHECKPOINT_SIGNATURE');
    }
  });

  it('names the altered entry with its stream sequence when a stored message is altered', async () => {
    const m = messages[5]!;
    const text = Buffer.from(m.data).toString().replace('"recipient":"AL"', '"recipient":"RS"');
    expect(text).not.toBe(Buffer.from(m.data).toString());
    const b = await broken(messages.map((x) => (x === m ? { ...x, data: text } : x)));
    expect(b).toMatchObject({ seq: 6, streamSeq: m.streamSeq, reason: 'HASH_MISMATCH' });
  });

  it('reports a SEQ_GAP naming a deleted entry', async () => {
    const b = await broken(messages.filter((m) => m.streamSeq !== 7));
    expect(b).toMatchObject({ seq: 7, streamSeq: 8, reason: 'SEQ_GAP' });
    expect(b.detail).toContain('entry 7 missing');
    expect(await broken(entries.slice(3))).toMatchObject({ seq: 1, reason: 'SEQ_GAP' });
  });

  it('reports SEQ_OUT_OF_ORDER for a replayed entry', async () => {
    const b = await broken([...entries.slice(0, 5), at(5), ...entries.slice(5)]);
    expect(b).toMatchObject({ seq: 6, reason: 'SEQ_OUT_OF_ORDER' });
  });

  it('reports MALFORMED for bytes that are not a canonical audit entry', async () => {
    const junk = messages.map((m) => (m.streamSeq === 9 ? { ...m, data: 'not json' } : m));
    expect(await broken(junk)).toMatchObject({ seq: 9, streamSeq: 9, reason: 'MALFORMED' });
    const spaced = JSON.stringify(at(9), null, 1);
    expect(await broken(messages.map((m) => (m.streamSeq === 9 ? { ...m, data: spaced } : m)))).toMatchObject(
      {
        seq: 9,
        reason: 'MALFORMED',
        detail: 'not in canonical form',
      },
    );
    const unknownField = { ...at(9), note: 'x' } as unknown as AuditEntry;
    expect(await broken(replace(9, unknownField))).toMatchObject({ seq: 9, reason: 'MALFORMED' });
  });

  it('catches a re-linked chain at the checkpoint that sealed the altered entry', async () => {
    const altered = replace(5, { ...at(5), paths: ['persons.subjectRef'] } as AuditEntry);
    expect(await broken(relink(altered))).toMatchObject({ seq: 12, reason: 'CHECKPOINT_MISMATCH' });
    // Moving the checkpoint's head too leaves a signature that no longer verifies.
    expect(await broken(relink(altered, true))).toMatchObject({
      seq: 12,
      reason: 'BAD_CHECKPOINT_SIGNATURE',
    });
  });

  it('rejects a forged checkpoint signature', async () => {
    const attacker = testKey(); // same kid as MK's key, other key material
    expect(attacker.kid).toBe(key.kid);
    const cp = at(23) as CheckpointEntry;
    const { sig: _sig, ...unsigned } = cp;
    const forged = signCheckpoint(unsigned, attacker.privateKey);
    expect(await broken(replace(23, forged))).toMatchObject({ seq: 23, reason: 'BAD_CHECKPOINT_SIGNATURE' });
    expect(await broken(replace(23, { ...cp, sig: 'A'.repeat(86) }))).toMatchObject({
      seq: 23,
      reason: 'BAD_CHECKPOINT_SIGNATURE',
    });
  });

  it('rejects a checkpoint whose key was revoked before it was written, not one signed before', async () => {
    const firstAt = at(1).at;
    const revokedBefore = manifestWith({ ...key.signingKey, revokedAt: '2024-06-01T00:00:00Z' });
    expect(await broken(entries, revokedBefore)).toMatchObject({
      seq: 1,
      reason: 'KEY_NOT_VALID',
      detail: `checkpoint key ${key.kid}: KEY_REVOKED`,
    });
    const later = new Date(Date.parse(at(40).at) + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const revokedAfter = manifestWith({ ...key.signingKey, revokedAt: later });
    expect(await verifyAuditChain(entries, revokedAfter, 'MK')).toMatchObject({ ok: true });
    expect(Date.parse(firstAt)).toBeLessThan(Date.parse(later));
  });

  it('rejects a checkpoint by a key the manifest does not list for the origin', async () => {
    const other = testKey('MK', {}, [key.kid]);
    expect(await broken(entries, manifestWith(other.signingKey))).toMatchObject({
      seq: 1,
      reason: 'UNKNOWN_KEY',
    });
    expect((await verifyAuditChain(entries, manifest, 'RS')).ok).toBe(false);
  });

  it('rejects a signed checkpoint that does not cover exactly the entries since the previous one', async () => {
    const cp = at(23) as CheckpointEntry;
    const { sig: _sig, ...unsigned } = cp;
    const resigned = signCheckpoint({ ...unsigned, covers: { from: 1, to: 22 } }, key.privateKey);
    expect(await broken(relink(replace(23, resigned)))).toMatchObject({
      seq: 23,
      reason: 'CHECKPOINT_MISMATCH',
    });
    // Only the genesis may cover nothing: a second checkpoint right after checkpoint 12 is refused.
    const h12 = hashAuditEntry(at(12));
    const empty = signCheckpoint(
      { ...unsigned, seq: 13, prev: h12, head: h12, covers: { from: 13, to: 12 } },
      key.privateKey,
    );
    expect(await broken([...entries.slice(0, 12), empty])).toMatchObject({
      seq: 13,
      reason: 'CHECKPOINT_MISMATCH',
    });
    const backdated = signCheckpoint({ ...unsigned, at: '2024-01-02T00:00:00.000Z' }, key.privateKey);
    expect(await broken(relink(replace(23, backdated)))).toMatchObject({
      seq: 23,
      reason: 'CHECKPOINT_MISMATCH',
      detail: 'dated before an entry it covers',
    });
  });

  it('stores entries as canonical JSON with sorted keys', () => {
    const text = new TextDecoder().decode(encodeAuditEntry(at(2)));
    expect(text.startsWith('{"agreementId":')).toBe(true);
    expect(text).toBe(Buffer.from(messages[1]!.data).toString());
    expect(at(1)).toMatchObject({ seq: 1, prev: 'A'.repeat(43) });
  });
});
