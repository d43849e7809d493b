import { DiscardPolicy, StorageType } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';

import { AUDIT_STREAM, AuditError, AuditLog, GENESIS_HASH, type DisclosureRecord } from '../src/index.js';
import { auditTestBed, entriesOf, openLog, readAll, record, testKey, type Nats } from './support.js';

const { key, nats, verify } = auditTestBed();
const auditError = async (p: Promise<unknown>): Promise<AuditError> => {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (e instanceof AuditError) return e;
  throw new Error(`expected an AuditError, got ${String(e)}`);
};

describe('AuditLog', () => {
  it('starts with a signed genesis, then a checkpoint every 1,000 disclosures and one at close', async () => {
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 1000, ms: 0 } });
    for (let i = 0; i < 2500; i += 1) await log.append(record(i));
    const last = await log.close();
    expect(last).toMatchObject({ seq: 2504, covers: { from: 2004, to: 2503 } });
    expect(await verify()).toMatchObject({
      ok: true,
      entries: 2504,
      disclosures: 2500,
      checkpoints: 4,
      unsealed: 0,
    });
    const checkpoints = entriesOf(await readAll(nats().jsm)).filter((e) => e.kind === 'checkpoint');
    expect(checkpoints.map((c) => [c.seq, c.covers.from, c.covers.to])).toEqual([
      [1, 1, 0],
      [1002, 2, 1001],
      [2003, 1003, 2002],
      [2504, 2004, 2503],
    ]);
    expect(checkpoints[0]).toMatchObject({ prev: GENESIS_HASH, head: GENESIS_HASH, kid: key.kid });
  });

  it('creates WBX_AUDIT on file storage without limits, subject wbx.audit.<origin>', async () => {
    const log = await openLog(nats(), key);
    const info = await nats().jsm.streams.info(AUDIT_STREAM);
    expect(info.config).toMatchObject({
      subjects: ['wbx.audit.MK'],
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      max_msgs_per_subject: -1,
    });
    await log.close();
  });

  it('continues the chain after a restart, and after a crash without a final checkpoint', async () => {
    const a = await openLog(nats(), key);
    for (let i = 0; i < 5; i += 1) await a.append(record(i)); // 2..6 after the genesis
    await a.close(); // checkpoint 7
    const b = await openLog(nats(), key);
    expect(b.head.seq).toBe(7);
    for (let i = 5; i < 8; i += 1) await b.append(record(i)); // 8, 9, 10 — then "crash": no close
    await nats().server.restart();
    const again = await nats().connectAgain();
    const c = await openLog(again, key);
    expect(c.head).toEqual(b.head);
    expect((await c.append(record(8))).seq).toBe(11);
    expect(await c.close()).toMatchObject({ seq: 12, covers: { from: 8, to: 11 } });
    expect(await verify(again.jsm)).toMatchObject({ ok: true, entries: 12, disclosures: 9, checkpoints: 3 });
  });

  it('keeps 200 parallel appends in one unbroken chain', async () => {
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 64, ms: 0 } });
    const written = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(record(i))));
    await log.close();
    expect(new Set(written.map((e) => e.seq)).size).toBe(200);
    const result = await verify();
    expect(result).toMatchObject({ ok: true, disclosures: 200, checkpoints: 5, unsealed: 0 });
    const ids = entriesOf(await readAll(nats().jsm)).flatMap((e) =>
      e.kind === 'disclosure' ? [e.eventId] : [],
    );
    expect(ids).toEqual(written.map((e) => e.eventId)); // in call order
  });

  it('does not fork the chain when two writers append at the same time', async () => {
    const other = await nats().connectAgain();
    const a = await openLog(nats(), key, { checkpointEvery: { entries: 25, ms: 0 } });
    const b = await openLog(other, key, { checkpointEvery: { entries: 25, ms: 0 } });
    await Promise.all([
      ...Array.from({ length: 100 }, (_, i) => a.append(record(i))),
      ...Array.from({ length: 100 }, (_, i) => b.append(record(100 + i))),
    ]);
    await a.close();
    await b.close();
    const result = await verify();
    expect(result).toMatchObject({ ok: true, disclosures: 200, unsealed: 0 });
    const ids = entriesOf(await readAll(nats().jsm)).flatMap((e) =>
      e.kind === 'disclosure' ? [e.eventId] : [],
    );
    expect(new Set(ids).size).toBe(200);
  });

  it('reloads the head when another writer extended the chain after the duplicate window', async () => {
    const other = await nats().connectAgain();
    const a = await openLog(nats(), key);
    const b = await openLog(other, key);
    const info = await nats().jsm.streams.info(AUDIT_STREAM);
    // A duplicate window of 100 ms.
    await nats().jsm.streams.update(AUDIT_STREAM, { ...info.config, duplicate_window: 100_000_000 });
    await a.append(record(0));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // b still believes the chain is empty; its msg id audit-MK-1 is no longer a duplicate, so the
    // expected last subject sequence is what refuses it.
    expect((await b.append(record(1))).seq).toBe(3);
    expect((await a.append(record(2))).seq).toBe(4);
    await a.close();
    expect(await verify()).toMatchObject({ ok: true, disclosures: 3, checkpoints: 2 });
  });

  it('writes a checkpoint T ms after the first unsealed entry', async () => {
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 1000, ms: 100 } });
    await log.append(record(0));
    await log.append(record(1));
    await expect.poll(() => log.head.seq, { timeout: 5_000 }).toBe(4);
    expect(await verify()).toMatchObject({ ok: true, checkpoints: 2, unsealed: 0 });
    await log.append(record(2));
    expect(await log.checkpoint()).toMatchObject({ seq: 6, covers: { from: 5, to: 5 } });
    expect(await log.checkpoint()).toBeUndefined();
    expect(await log.close()).toBeUndefined();
  });

  it('seals entries a crashed writer left unsealed T ms after opening', async () => {
    const crashed = await openLog(nats(), key);
    await crashed.append(record(0));
    await crashed.append(record(1));
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 1000, ms: 100 } });
    await expect.poll(() => log.head.seq, { timeout: 5_000 }).toBe(4);
    expect(await log.close()).toBeUndefined();
    expect(await verify()).toMatchObject({ ok: true, disclosures: 2, checkpoints: 2, unsealed: 0 });
  });

  it('makes a deleted entry show up as SEQ_GAP naming it', async () => {
    const log = await openLog(nats(), key, { checkpointEvery: { entries: 10, ms: 0 } });
    for (let i = 0; i < 25; i += 1) await log.append(record(i));
    await log.close();
    const target = (await readAll(nats().jsm)).find((m) => entriesOf([m])[0]?.seq === 14)!;
    expect(await nats().jsm.streams.deleteMessage(AUDIT_STREAM, target.streamSeq)).toBe(true);
    const result = await verify();
    expect(result).toMatchObject({ ok: false, firstBroken: { seq: 14, reason: 'SEQ_GAP' } });
  });

  it('refuses invalid records, appends after close, and a signer of another partner', async () => {
    const log = await openLog(nats(), key);
    const bad = { ...record(0), recipient: 'rs' } as DisclosureRecord;
    expect((await auditError(log.append(bad))).code).toBe('INVALID_RECORD');
    const unknownMode = { ...record(0), mode: 'leak' } as unknown as DisclosureRecord;
    expect((await auditError(log.append(unknownMode))).code).toBe('INVALID_RECORD');
    const e = await log.append({ ...record(0), paths: ['b', 'a', 'b'] });
    expect(e.paths).toEqual(['a', 'b']);
    await log.close();
    expect((await auditError(log.append(record(1)))).code).toBe('CLOSED');
    const rsKey = testKey('RS');
    const signer = { kid: rsKey.kid, privateKey: rsKey.privateKey };
    expect((await auditError(openLog(nats(), key, { signer }))).code).toBe('INVALID_OPTIONS');
    expect((await auditError(openLog(nats(), key, { origin: 'mk' }))).code).toBe('INVALID_OPTIONS');
  });

  it('refuses to continue a chain whose last entry is unreadable', async () => {
    const log = await openLog(nats(), key);
    await log.append(record(0));
    await nats().js.publish('wbx.audit.MK', 'garbage');
    expect((await auditError(AuditLog.open({ ...optionsOf(nats()) }))).code).toBe('CORRUPT_HEAD');
  });
});

function optionsOf(n: Nats) {
  return {
    js: n.js,
    jsm: n.jsm,
    origin: 'MK',
    signer: { kid: key.kid, privateKey: key.privateKey },
  };
}
