import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { disclose } from '@wbx/seal';
import { startNatsServer, type NatsServer } from '@wbx/test-helpers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LoadedAgreement } from '../../src/agreement-set.js';
import {
  agreementsSnapshot,
  type AgreementsListener,
  type AgreementsSnapshot,
  type AgreementsSource,
} from '../../src/agreements-watcher.js';
import { InboxRetention } from '../../src/inbox-retention.js';
import { GatewayMetrics } from '../../src/metrics.js';
import { INBOX_STREAM, inboxSubject } from '../../src/nats-layout.js';
import { agreement, eventsOf, partners, quiet, until, type Partners } from '../support/fixtures.js';

const DAY = 86_400_000;
const CROSSING_FIELDS = ['occurredAt', 'routeSegment', 'persons.citizenship'];
const crossings = (retentionDays: number) => [
  { types: ['crossing.irregular'], mode: 'records', fields: CROSSING_FIELDS, retentionDays },
];

let p: Partners;
let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeEach(async () => {
  p = await partners(['MK', 'RS', 'AL']);
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: INBOX_STREAM, subjects: ['wbx.in.>'] });
});

afterEach(async () => {
  await nc.close();
  await server[Symbol.asyncDispose]();
});

/** Stores `count` presentations of `origin` in RS's inbox, as its receive worker does; their event ids. */
async function receive(origin: 'MK' | 'AL', count: number, seed: string): Promise<string[]> {
  const js = jetstream(nc);
  const ids: string[] = [];
  for (const event of eventsOf('crossing.irregular', count, seed)) {
    const token = disclose(p.sealer(origin).seal({ ...event, origin }), CROSSING_FIELDS);
    await js.publish(inboxSubject(origin, event.type), token, { msgID: `${origin}.${event.eventId}` });
    ids.push(event.eventId);
  }
  return ids;
}

/** The event ids RS's inbox holds, in order. */
async function held(): Promise<string[]> {
  const ids: string[] = [];
  const info = await jsm.streams.info(INBOX_STREAM);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(INBOX_STREAM, { seq }).catch(() => null);
    const id = m?.header.get('Nats-Msg-Id');
    if (id !== undefined && id !== '') ids.push(id.slice(id.indexOf('.') + 1));
  }
  return ids;
}

function sweeper(
  snapshot: AgreementsSnapshot,
  now: Date,
  metrics?: GatewayMetrics,
  deleteUncovered?: boolean,
): InboxRetention {
  return new InboxRetention({
    ...(deleteUncovered === undefined ? {} : { deleteUncovered }),
    partner: 'RS',
    jsm,
    agreements: { current: snapshot },
    log: quiet(),
    now: () => now,
    everyMs: 3_600_000,
    ...(metrics === undefined ? {} : { metrics }),
  });
}

const later = (days: number): Date => new Date(Date.now() + days * DAY);

describe('InboxRetention', () => {
  it("deletes records once their term's retentionDays have passed since receipt, and keeps the others", async () => {
    const mk = await receive('MK', 3, 'retention-mk');
    const al = await receive('AL', 2, 'retention-al');
    const snapshot = agreementsSnapshot('RS', [
      agreement({ id: 'MK-RS-1', provider: 'MK', recipient: 'RS', terms: crossings(30) }),
      agreement({ id: 'AL-RS-1', provider: 'AL', recipient: 'RS', terms: crossings(365) }),
    ]);
    const metrics = new GatewayMetrics();

    // 29 days on: within both agreements' retention (expired agreements keep their retention).
    expect(await sweeper(snapshot, later(29), metrics).sweep()).toEqual({
      scanned: 5,
      deleted: 0,
      unreadable: 0,
      uncovered: 0,
    });
    expect(await held()).toEqual([...mk, ...al]);

    // 31 days on: MK's 30 days have passed, AL's 365 have not.
    expect(await sweeper(snapshot, later(31), metrics).sweep()).toMatchObject({ scanned: 5, deleted: 3 });
    expect(await held()).toEqual(al);
    const counted = (await metrics.inboxRetentionDeleted.get()).values;
    expect(counted).toEqual([{ labels: { origin: 'MK', agreement: 'MK-RS-1' }, value: 3 }]);

    // 366 days on: AL's too.
    expect(await sweeper(snapshot, later(366), metrics).sweep()).toMatchObject({ scanned: 2, deleted: 2 });
    expect(await held()).toEqual([]);
  });

  it('deletes at once what a revoked or expired agreement with deleteOnEnd held, not what one without it held', async () => {
    const mk = await receive('MK', 2, 'end-mk');
    const al = await receive('AL', 2, 'end-al');
    const revoked = (a: LoadedAgreement): LoadedAgreement => ({
      ...a,
      revokedAt: new Date(Date.now() + 1_000).toISOString(),
    });
    const snapshot = agreementsSnapshot('RS', [
      revoked(
        agreement({
          id: 'MK-RS-1',
          provider: 'MK',
          recipient: 'RS',
          terms: crossings(365),
          deleteOnEnd: true,
        }),
      ),
      revoked(agreement({ id: 'AL-RS-1', provider: 'AL', recipient: 'RS', terms: crossings(365) })),
    ]);

    // Before the revocation takes effect, both are kept.
    expect(await sweeper(snapshot, new Date()).sweep()).toMatchObject({ deleted: 0 });
    expect(await held()).toEqual([...mk, ...al]);
    // After it: MK's agreement said deleteOnEnd; AL's keeps its records for their retention.
    expect(await sweeper(snapshot, later(1)).sweep()).toMatchObject({ deleted: 2 });
    expect(await held()).toEqual(al);
  });

  it('deletes what an agreement now listed as revoked held, with deleteOnEnd; keeps what no agreement covers unless told', async () => {
    await receive('MK', 2, 'inactive-mk');
    const al = await receive('AL', 1, 'inactive-al');
    const ended = agreement({
      id: 'MK-RS-1',
      provider: 'MK',
      recipient: 'RS',
      terms: crossings(365),
      deleteOnEnd: true,
    });
    const expired = agreement({ id: 'AL-RS-1', provider: 'AL', recipient: 'RS', terms: crossings(365) });
    const snapshot = agreementsSnapshot('RS', [], {
      inactive: [
        { file: ended.file, body: ended.body, reasons: ['REVOKED:RS'] },
        { file: expired.file, body: expired.body, reasons: ['EXPIRED'] },
      ],
    });
    expect(await sweeper(snapshot, new Date()).sweep()).toMatchObject({ deleted: 2 });
    expect(await held()).toEqual(al);

    // With no agreement known at all (the files removed): kept and counted as uncovered, by default...
    const none = agreementsSnapshot('RS', []);
    expect(await sweeper(none, later(4_000)).sweep()).toMatchObject({ deleted: 0, uncovered: 1 });
    expect(await held()).toEqual(al);
    // ...and deleted with inbox.deleteUncovered.
    expect(await sweeper(none, new Date(), undefined, true).sweep()).toMatchObject({
      deleted: 1,
      uncovered: 0,
    });
    expect(await held()).toEqual([]);
  });

  it('deletes nothing while the agreements cannot be read, and says so', async () => {
    const mk = await receive('MK', 2, 'unknown-mk');
    const snapshot = agreementsSnapshot('RS', [], { problem: 'AGREEMENTS_DIR_UNREADABLE' });
    expect(await sweeper(snapshot, later(4_000)).sweep()).toEqual({
      skipped: 'AGREEMENTS_UNAVAILABLE',
      scanned: 0,
      deleted: 0,
      unreadable: 0,
      uncovered: 0,
    });
    expect(await held()).toEqual(mk);
  });

  it('lets two replicas sweep at once: every expired record is deleted once and neither sweep fails', async () => {
    const mk = await receive('MK', 40, 'replicas-mk');
    const snapshot = agreementsSnapshot('RS', [
      agreement({ id: 'MK-RS-1', provider: 'MK', recipient: 'RS', terms: crossings(30) }),
    ]);
    const other = await connect({ servers: server.url });
    try {
      const second = new InboxRetention({
        partner: 'RS',
        jsm: await jetstreamManager(other),
        agreements: { current: snapshot },
        log: quiet(),
        now: () => later(31),
        everyMs: 3_600_000,
      });
      const [a, b] = await Promise.all([sweeper(snapshot, later(31)).sweep(), second.sweep()]);
      expect(a.deleted + b.deleted).toBe(mk.length);
      expect(await held()).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('sweeps again as soon as the agreements change: a revocation with deleteOnEnd takes effect at once', async () => {
    const mk = await receive('MK', 2, 'change-mk');
    const signed = agreement({
      id: 'MK-RS-1',
      provider: 'MK',
      recipient: 'RS',
      terms: crossings(365),
      deleteOnEnd: true,
    });
    let current = agreementsSnapshot('RS', [signed]);
    const listeners: AgreementsListener[] = [];
    const source: AgreementsSource = {
      get current() {
        return current;
      },
      subscribe: (listener) => {
        listeners.push(listener);
        return { [Symbol.dispose]: () => listeners.splice(listeners.indexOf(listener), 1) };
      },
    };
    // Once an hour: only the change can make the second sweep happen within the test.
    const retention = new InboxRetention({
      partner: 'RS',
      jsm,
      agreements: source,
      log: quiet(),
      everyMs: 3_600_000,
    });
    retention.start();
    try {
      await until('the first sweep', async () => ((await held()).length === mk.length ? true : undefined));
      current = agreementsSnapshot('RS', [], {
        inactive: [{ file: signed.file, body: signed.body, reasons: ['REVOKED:MK'] }],
      });
      for (const l of listeners) await l(current);
      await until('the sweep after the revocation', async () => (await held()).length === 0);
    } finally {
      await retention.stop();
    }
    expect(listeners).toHaveLength(0);
  });

  it('sweeps at start and again every everyMs once started', async () => {
    await receive('MK', 1, 'timer-mk');
    const snapshot = agreementsSnapshot('RS', []);
    const retention = new InboxRetention({
      partner: 'RS',
      jsm,
      agreements: { current: snapshot },
      log: quiet(),
      everyMs: 50,
      deleteUncovered: true,
    });
    retention.start();
    try {
      await until('the first sweep', async () => (await held()).length === 0);
      await receive('MK', 1, 'timer-mk-2');
      await until('a later sweep', async () => (await held()).length === 0);
    } finally {
      await retention.stop();
    }
  });
});
