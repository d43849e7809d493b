import { MAX_EVENT_IDS, type DisclosureRecord } from '@wbx/audit';
import { describe, expect, it } from 'vitest';

import { AuditBatcher } from '../src/audit-batcher.js';

const record = (eventId: string, over: Partial<DisclosureRecord> = {}): DisclosureRecord => ({
  recipient: 'RS',
  agreementId: 'MK-RS-1',
  eventId,
  eventType: 'crossing.irregular',
  paths: ['persons.citizenship', 'routeSegment'],
  mode: 'records',
  ...over,
});

/** A sink that keeps what it is given and fails when told to. */
function sink(fail = false): { appended: DisclosureRecord[]; append(r: DisclosureRecord): Promise<void> } {
  const appended: DisclosureRecord[] = [];
  return {
    appended,
    append(r) {
      appended.push(r);
      return fail ? Promise.reject(new Error('stream unavailable')) : Promise.resolve();
    },
  };
}

describe('AuditBatcher (the share worker’s audit entries)', () => {
  it('lists the disclosures of one turn with the same recipient, agreement, type and paths in one entry', async () => {
    const s = sink();
    const b = new AuditBatcher(s);
    await Promise.all([
      b.append(record('e1')),
      b.append(record('e2')),
      b.append(record('e3', { eventType: 'smuggling.incident' })),
      b.append(record('e4', { paths: ['routeSegment'] })),
      b.append(record('e5', { recipient: 'AL', agreementId: 'MK-AL-1' })),
      b.append(record('e2')), // a redelivery in the same turn is listed once
    ]);
    expect(s.appended).toHaveLength(4);
    const grouped = s.appended[0]!;
    expect(grouped.eventIds).toEqual(['e1', 'e2']);
    expect(grouped.eventId).toMatch(/^share-[0-9a-f-]{36}$/);
    // A lone disclosure stays an entry of its own, named by its event.
    expect(s.appended.slice(1).map((r) => [r.eventId, r.eventIds])).toEqual([
      ['e3', undefined],
      ['e4', undefined],
      ['e5', undefined],
    ]);
  });

  it('starts a new entry at MAX_EVENT_IDS, and the next turn starts afresh', async () => {
    const s = sink();
    const b = new AuditBatcher(s);
    const ids = Array.from({ length: MAX_EVENT_IDS + 5 }, (_, i) => `e${i}`);
    await Promise.all(ids.map((id) => b.append(record(id))));
    expect(s.appended.map((r) => r.eventIds?.length)).toEqual([MAX_EVENT_IDS, 5]);
    await b.append(record('later'));
    expect(s.appended.at(-1)?.eventId).toBe('later');
  });

  it('fails every disclosure of an entry that could not be stored, so none of their events is acknowledged', async () => {
    const b = new AuditBatcher(sink(true));
    const results = await Promise.allSettled([b.append(record('e1')), b.append(record('e2'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
