import { setTimeout as sleep } from 'node:timers/promises';

import { credentials } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { Event, IngestClient } from '@wbx/proto';
import { uuidV7, validateEvent, type ValidEvent } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';

import { INBOX_STREAM, type Gateway } from '@wbx/gateway';
import { write, type CliIo } from './io.js';

/** The records `g`'s WBX_INBOX holds now: per event id, the claims of each presentation of it. */
async function held(g: Gateway): Promise<{ eventId: string; type: string; citizenship?: unknown }[]> {
  const jsm = await jetstreamManager(g.nats);
  const { state } = await jsm.streams.info(INBOX_STREAM);
  const out: { eventId: string; type: string; citizenship?: unknown }[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(INBOX_STREAM, { seq }).catch(() => null);
    if (m === null) continue;
    const { eventId, type, claims } = readOwnSealedEvent(m.string());
    const persons = claims.persons as { citizenship?: unknown }[] | undefined;
    out.push({ eventId, type, citizenship: persons?.[0]?.citizenship });
  }
  return out;
}

function changeEvent(type: 'record.correction' | 'record.withdrawal', body: object): Event {
  const now = Date.now();
  const at = new Date(now - 1_000).toISOString();
  const r = validateEvent({
    eventId: uuidV7(now),
    origin: 'MK',
    type,
    schemaVersion: 1,
    occurredAt: at,
    recordedAt: at,
    ...(type === 'record.correction' ? { recordCorrection: body } : { recordWithdrawal: body }),
  });
  if (!r.ok) throw new Error(`the demo's ${type} is invalid: ${JSON.stringify(r.violations)}`);
  return Event.fromJSON(r.event);
}

/**
 * The correction and withdrawal part of the demo: MK corrects the first person's citizenship in one
 * crossing it shared with RS and withdraws another (both as `wbx correct` / `wbx withdraw` submit them,
 * through Ingest); RS's gateway applies both. One line each.
 */
export async function changesDemo(
  io: CliIo,
  mk: Gateway,
  rs: Gateway,
  shared: readonly ValidEvent[],
): Promise<boolean> {
  const crossings = shared.filter((e) => (e.crossingIrregular?.persons.length ?? 0) > 0);
  const [wrong, mistaken] = crossings;
  if (wrong === undefined || mistaken === undefined) return false;
  const before = wrong.crossingIrregular?.persons[0]?.citizenship ?? '';
  const fixed = before === 'IRQ' ? 'SYR' : 'IRQ';
  const corrected = {
    ...wrong,
    crossingIrregular: {
      ...wrong.crossingIrregular,
      persons: wrong.crossingIrregular?.persons.map((p, i) => (i === 0 ? { ...p, citizenship: fixed } : p)),
    },
  };
  const client = new IngestClient(mk.grpcAddress, credentials.createInsecure());
  const submit = (e: Event): Promise<unknown> =>
    new Promise((resolve, reject) => client.submit(e, (err, r) => (err ? reject(err) : resolve(r))));
  const wait = async (probe: (h: Awaited<ReturnType<typeof held>>) => boolean): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < 300; i++) {
      if (probe(await held(rs))) return Math.round(performance.now() - started);
      await sleep(100);
    }
    return -1;
  };
  try {
    await submit(
      changeEvent('record.correction', {
        originalEventId: wrong.eventId,
        reason: 'wrong-person-attributes',
        corrected,
      }),
    );
    const correctedIn = await wait((h) => {
      const versions = h.filter((x) => x.eventId === wrong.eventId && x.type === wrong.type);
      return versions.length === 1 && versions[0]?.citizenship === fixed;
    });
    await write(
      io.stdout,
      correctedIn < 0
        ? `MK corrects crossing ${wrong.eventId}: the correction did NOT reach RS\n`
        : `MK corrects crossing ${wrong.eventId} (first person's citizenship ${before} → ${fixed}): RS's inbox holds the corrected record after ${correctedIn} ms, the old one deleted, the notice kept\n`,
    );
    await submit(
      changeEvent('record.withdrawal', { originalEventId: mistaken.eventId, reason: 'recorded-in-error' }),
    );
    const withdrawnIn = await wait((h) => !h.some((x) => x.eventId === mistaken.eventId));
    await write(
      io.stdout,
      withdrawnIn < 0
        ? `MK withdraws crossing ${mistaken.eventId}: it is STILL in RS's inbox\n`
        : `MK withdraws crossing ${mistaken.eventId} (recorded-in-error): gone from RS's inbox after ${withdrawnIn} ms, the notice kept\n\n`,
    );
    return correctedIn >= 0 && withdrawnIn >= 0;
  } finally {
    client.close();
  }
}
