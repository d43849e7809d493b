import { jetstream } from '@nats-io/jetstream';
import { parseManifestBody } from '@wbx/registry';
import { describe, expect, it } from 'vitest';

import {
  hashAuditEntry,
  verifyAuditChain,
  type AuditEntry,
  type AuditMessage,
  type DisclosureEntry,
} from '../src/index.js';
import { auditTestBed, entriesOf, KEY_FROM, openLog, readAll, record, testKey } from './support.js';

// The AuditLog keeps many appends in flight; these tests break publishes in the middle of them.

const { key, nats, verify } = auditTestBed();

/** Every resolved append is in the chain at its position, byte for byte. */
function expectStored(stored: readonly AuditEntry[], written: readonly DisclosureEntry[]): void {
  const bySeq = new Map(stored.map((e) => [e.seq, hashAuditEntry(e)]));
  const missing = written.filter((e) => bySeq.get(e.seq) !== hashAuditEntry(e));
  expect(missing).toEqual([]);
}

const settled = async (appends: readonly Promise<DisclosureEntry>[]) => {
  const results = await Promise.allSettled(appends);
  return {
    written: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    failed: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])),
  };
};

describe('AuditLog with appends in flight', () => {
  it('keeps 5,000 appends in flight in one valid chain, in call order, with a checkpoint after every 500', async () => {
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 500, ms: 0 } });
    const written = await Promise.all(Array.from({ length: 5000 }, (_, i) => log.append(record(i))));
    expect(await log.close()).toBeUndefined(); // the 10th checkpoint sealed the last 500
    // seq 1 is the genesis checkpoint.
    expect(written.map((e) => e.seq)).toEqual(
      Array.from({ length: 5000 }, (_, i) => i + 2 + Math.floor(i / 500)),
    );
    expect(await verify()).toMatchObject({
      ok: true,
      entries: 5011,
      disclosures: 5000,
      checkpoints: 11,
      unsealed: 0,
    });
    const stored = entriesOf(await readAll(nats().jsm));
    expectStored(stored, written);
    const ids = stored.flatMap((e) => (e.kind === 'disclosure' ? [e.eventId] : []));
    expect(ids).toEqual(written.map((e) => e.eventId));
  });

  it('ends with a valid chain holding every acknowledged append when nats-server restarts mid-way', async () => {
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 250, ms: 0 } });
    const appends: Promise<DisclosureEntry>[] = [];
    for (let i = 0; i < 3000; i += 1) appends.push(log.append(record(i)));
    await appends[400]; // the window is open by now: hundreds in flight
    await nats().server.restart();
    for (let i = 3000; i < 3500; i += 1) appends.push(log.append(record(i)));
    const { written, failed } = await settled(appends);
    expect(failed).toEqual([]);
    await log.close();
    const result = await verify();
    expect(result).toMatchObject({ ok: true, unsealed: 0 });
    const stored = entriesOf(await readAll(nats().jsm));
    expectStored(stored, written);
    // Nothing written twice: each append is stored exactly once.
    const ids = stored.flatMap((e) => (e.kind === 'disclosure' ? [e.eventId] : []));
    expect(ids.length).toBe(3500);
    expect(new Set(ids).size).toBe(3500);
  });

  it('resolves appends whose ack was lost (publish timeouts) by finding them in the stream', async () => {
    // A client whose publishes time out after 1 ms: most acks come too late, though the entries are
    // stored; the log must recognise them, not write them twice or skip them.
    const hasty = { js: jetstream(nats().nc, { timeout: 1 }), jsm: nats().jsm };
    const log = await openLog(hasty, key, { checkpointEvery: { entries: 50, ms: 0 } });
    const { written, failed } = await settled(Array.from({ length: 300 }, (_, i) => log.append(record(i))));
    expect(failed).toEqual([]);
    await log.close().catch(() => undefined); // may time out too; what matters is the chain
    expect(await verify()).toMatchObject({ ok: true, disclosures: 300 });
    expectStored(entriesOf(await readAll(nats().jsm)), written);
  });

  it('rewrites its in-flight appends on top of an entry another writer stored in the middle', async () => {
    const other = await nats().connectAgain();
    const a = await openLog(nats(), key, { checkpointEvery: { entries: 100, ms: 0 } });
    const b = await openLog(other, key);
    const appends: Promise<DisclosureEntry>[] = [];
    for (let i = 0; i < 500; i += 1) appends.push(a.append(record(i)));
    // b knows the head of an empty chain: its first try is refused, then it continues a's chain; a's
    // publishes behind it are refused in turn and rewritten on b's entry.
    await appends[20];
    const intruder = await b.append(record(1000));
    for (let i = 500; i < 1000; i += 1) appends.push(a.append(record(i)));
    const { written, failed } = await settled(appends);
    expect(failed).toEqual([]);
    await a.close();
    const stored = entriesOf(await readAll(nats().jsm));
    expect(await verify()).toMatchObject({ ok: true, disclosures: 1001, unsealed: 0 });
    expectStored(stored, [...written, intruder]);
    // a's own appends stay in call order.
    const ids = stored.flatMap((e) =>
      e.kind === 'disclosure' && e.eventId !== intruder.eventId ? [e.eventId] : [],
    );
    expect(ids).toEqual(written.map((e) => e.eventId));
  });

  it('keeps pipelining correct when another origin writes to the same stream at the same time', async () => {
    const rsKey = testKey('RS');
    const both = parseManifestBody({
      version: 1,
      threshold: 1,
      issuedAt: KEY_FROM,
      members: [
        { id: 'MK', name: 'MK', roles: ['origin'], signingKeys: [key.signingKey], tlsCertSha256: [] },
        { id: 'RS', name: 'RS', roles: ['origin'], signingKeys: [rsKey.signingKey], tlsCertSha256: [] },
      ],
    });
    const mk = await openLog(nats(), key, { checkpointEvery: { entries: 100, ms: 0 } });
    const rs = await openLog(nats(), rsKey, {
      origin: 'RS',
      signer: { kid: rsKey.kid, privateKey: rsKey.privateKey },
      checkpointEvery: { entries: 100, ms: 0 },
    });
    const [mkWritten, rsWritten] = await Promise.all([
      Promise.all(Array.from({ length: 400 }, (_, i) => mk.append(record(i)))),
      Promise.all(Array.from({ length: 400 }, (_, i) => rs.append(record(i)))),
    ]);
    await mk.close();
    await rs.close();
    const chains: [string, readonly DisclosureEntry[]][] = [
      ['MK', mkWritten],
      ['RS', rsWritten],
    ];
    for (const [origin, written] of chains) {
      const messages: AuditMessage[] = await readAll(nats().jsm, origin);
      expect(await verifyAuditChain(messages, both, origin)).toMatchObject({
        ok: true,
        disclosures: 400,
        unsealed: 0,
      });
      expectStored(entriesOf(messages), written);
    }
  });
});
