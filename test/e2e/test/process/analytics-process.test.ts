import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { wbx, wbxBinary } from '@wbx/cli';
import { startFederation, type Federation } from '@wbx/fixtures';
import { GATEWAY_NKEY_FILE, INBOX_STREAM, type Gateway } from '@wbx/gateway';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { readOwnSealedEvent } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { spawnNode, until, type Child } from '@wbx/test-helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { submitAll } from '../support/submit.js';

const WBX = wbxBinary();

interface ReadyLine {
  readonly ready: true;
  readonly analytics: string;
  readonly position: number;
}

interface ApiFigure {
  readonly period: string;
  readonly dimensions: Record<string, string>;
  readonly value: number | null;
  readonly suppressed: boolean;
  readonly provenance: { readonly eventId: string; readonly agreementId: string };
}

let fed: Federation;
let mk: Gateway;
let frontex: Gateway;
let dir: string;
let events: ValidEvent[];

function serve(db: string): Child {
  return spawnNode([
    WBX,
    'analytics',
    'serve',
    '--nats',
    frontex.natsUrl,
    '--nkey',
    join(frontex.accessDir ?? '', GATEWAY_NKEY_FILE),
    '--manifest',
    fed.identity.manifestFile,
    '--partner',
    'FRONTEX',
    '--agreements',
    fed.agreementsDir('FRONTEX'),
    '--db',
    db,
    '--listen',
    '127.0.0.1:0',
  ]);
}

async function ready(child: Child): Promise<ReadyLine> {
  const line = await child.line((l) => l.startsWith('{"ready":true'), 30_000);
  return JSON.parse(line) as ReadyLine;
}

const get = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-analytics-process-'));
  fed = await startFederation(['MK', 'FRONTEX']);
  await fed.agree({
    id: 'MK-FRONTEX-1',
    provider: 'MK',
    recipient: 'FRONTEX',
    purposes: ['risk-analysis', 'anti-smuggling'],
    legalBasis: 'Test agreement',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'aggregate',
        dimensions: ['routeSegment'],
        period: 'week',
        minCell: 5,
        retentionDays: 30,
      },
      { types: ['smuggling.incident'], mode: 'records', fields: ['routeSegment'], retentionDays: 30 },
    ],
  });
  mk = await fed.start('MK');
  frontex = await fed.start('FRONTEX', { receiveFrom: [mk] });
  events = [
    ...generateEvents({
      partner: 'MK',
      count: 200,
      seed: 'analytics-process',
      from: new Date('2023-10-02'),
      to: new Date('2023-10-16'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
  await submitAll(mk, events);
}, 60_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('wbx analytics serve (a process beside FRONTEX gateway)', () => {
  it('takes in the verified inbox, serves it, stops on SIGTERM and continues from where it stopped', async () => {
    const db = join(dir, 'analytics.duckdb');
    const incidents = events.filter((e) => e.type === 'smuggling.incident').length;
    const jsm = await jetstreamManager(frontex.nats);
    // The latest published value per cell among the inbox's first `position` messages.
    const expectedUpTo = async (position: number): Promise<Map<string, number | null>> => {
      const expected = new Map<string, number | null>();
      for (let seq = 1; seq <= position; seq++) {
        const m = await jsm.streams.getMessage(INBOX_STREAM, { seq });
        if (m === null) continue;
        const { claims } = readOwnSealedEvent(m.string());
        if (claims.wbx_type !== 'stats.aggregate') continue;
        for (const c of claims.cells as { values: string[]; count: number; suppressed: boolean }[]) {
          expected.set(`${String(claims.period)} ${c.values.join()}`, c.suppressed ? null : c.count);
        }
      }
      return expected;
    };
    const shown = (figures: readonly ApiFigure[]): Map<string, number | null> =>
      new Map(figures.map((f) => [`${f.period} ${f.dimensions.routeSegment ?? ''}`, f.value]));
    // Figures and the position they were read at (no message taken in between).
    const consistent = (api: string, atLeast: number) =>
      until(
        'the inbox taken in',
        async () => {
          const before = (await get<{ position: number }>(`${api}/api/v1/health`)).position;
          const figures = (await get<{ figures: ApiFigure[] }>(`${api}/api/v1/figures`)).figures;
          const after = (await get<{ position: number }>(`${api}/api/v1/health`)).position;
          return before === after && after >= atLeast ? { position: after, figures } : undefined;
        },
        60_000,
        200,
      );
    // MK's incidents and at least one aggregate have reached FRONTEX's inbox.
    const inbox = await until(
      'the inbox',
      async () => {
        const { messages } = (await jsm.streams.info(INBOX_STREAM)).state;
        return messages > incidents ? messages : undefined;
      },
      60_000,
      200,
    );

    const first = serve(db);
    let stoppedAt: Awaited<ReturnType<typeof consistent>>;
    try {
      const line = await ready(first);
      expect(line.position).toBe(0);
      stoppedAt = await consistent(line.analytics, inbox);
      expect(shown(stoppedAt.figures)).toEqual(await expectedUpTo(stoppedAt.position));
      expect(stoppedAt.figures.every((f) => f.provenance.agreementId === 'MK-FRONTEX-1')).toBe(true);
      const records = await get<{ records: unknown[] }>(
        `${line.analytics}/api/v1/records?type=smuggling.incident`,
      );
      expect(records.records).toHaveLength(incidents);
      const sdmx = await (await fetch(`${line.analytics}/api/v1/export.sdmx.csv`)).text();
      expect(sdmx.split('\r\n')[0]).toBe(
        'STRUCTURE,STRUCTURE_ID,ACTION,FREQ,REF_AREA,INDICATOR,ROUTE_SEGMENT,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,OBS_STATUS,CONF_STATUS',
      );
    } finally {
      await first.stop();
    }
    expect(await first.exited).toBe(0);

    // With the store free, the CLI reads its figures from the file.
    const json = await wbx(['analytics', 'export', '--db', db, '--format', 'json']);
    expect(json.code).toBe(0);
    const exported = (JSON.parse(json.stdout) as { figures: ApiFigure[] }).figures;

    const second = serve(db);
    try {
      const line = await ready(second);
      // It starts where the first stopped, not from the beginning.
      expect(line.position).toBeGreaterThanOrEqual(stoppedAt.position);
      expect(shown(exported)).toEqual(await expectedUpTo(line.position));
      const again = await consistent(line.analytics, line.position);
      expect(shown(again.figures)).toEqual(await expectedUpTo(again.position));
    } finally {
      await second.stop();
    }
  }, 150_000);
});
