import { describe, expect, it } from 'vitest';

import type { ChainConflict } from '../src/index.js';
import { auditTestBed, entriesOf, openLog, readAll, record } from './support.js';

const { key, nats, verify } = auditTestBed();

/**
 * Two AuditLog instances of one origin (two gateway replicas) on one stream: the chain's compare-and-set
 * (expected last subject sequence) lets exactly one of two entries built on the same head in; the other
 * writer rereads the head, rebuilds its entry on it, retries, and reports the conflict.
 */
describe('two writers of one origin', () => {
  it('append concurrently into one chain: every append once, no fork, each conflict reported', async () => {
    const other = await nats().connectAgain();
    const conflicts: ChainConflict[] = [];
    const onConflict = (c: ChainConflict): void => {
      conflicts.push(c);
    };
    const options = { checkpointEvery: { entries: 20, ms: 0 }, onConflict };
    const a = await openLog(nats(), key, options);
    const b = await openLog(other, key, options);
    const appends = 150;
    const written = await Promise.all(
      Array.from({ length: appends }, (_, i) => (i % 2 === 0 ? a : b).append(record(i))),
    );
    await a.close();
    await b.close();

    const entries = entriesOf(await readAll(nats().jsm));
    const result = await verify();
    if (!result.ok) throw new Error(`chain does not verify: ${JSON.stringify(result)}`);
    expect(result).toMatchObject({ disclosures: appends, unsealed: 0 });
    expect(result.entries).toBe(appends + result.checkpoints);
    expect(entries).toHaveLength(result.entries);
    // No fork: one entry per chain seq, 1..n in stream order.
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    // Every append exactly once, at the seq its write resolved to.
    const disclosed = entries.flatMap((e) => (e.kind === 'disclosure' ? [e.eventId] : []));
    expect(disclosed.toSorted()).toEqual(
      Array.from({ length: appends }, (_, i) => record(i).eventId).toSorted(),
    );
    for (const w of written) expect(entries[w.seq - 1]).toEqual(w);
    // Both started on the genesis, so at least one lost a compare-and-set; each loss names both heads.
    expect(conflicts.length).toBeGreaterThan(0);
    for (const c of conflicts) {
      expect(c.subject).toBe('wbx.audit.MK');
      expect(c.foundSeq).toBeGreaterThan(c.expectedSeq);
      expect(c.foundStreamSeq).toBeGreaterThan(c.expectedStreamSeq);
    }
  });

  it('a writer behind the chain rebuilds its entry on the new head and reports expected and found seqs', async () => {
    const other = await nats().connectAgain();
    const conflicts: ChainConflict[] = [];
    const a = await openLog(nats(), key);
    const b = await openLog(other, key, { onConflict: (c) => conflicts.push(c) });
    expect((await a.append(record(0))).seq).toBe(2);
    // b still has the genesis as its head: its entry 2 is refused, rebuilt as 3 on a's entry.
    const rebuilt = await b.append(record(1));
    expect(rebuilt.seq).toBe(3);
    expect(conflicts).toEqual([
      {
        subject: 'wbx.audit.MK',
        expectedSeq: 1,
        expectedStreamSeq: 1,
        foundSeq: 2,
        foundStreamSeq: 2,
        retried: 1,
        inARow: 1,
      },
    ]);
    await a.close();
    await b.close();
    expect(await verify()).toMatchObject({ ok: true, disclosures: 2 });
  });
});
