import { validateLine, type ValidEvent } from '@wbx/schema';
import { eventToNdjsonLine, generateEvents } from '@wbx/synth';

import { federationDemo } from './demo-federation.js';
import { sealDemo } from './demo-seal.js';
import { DEFAULT_FROM } from './generate.js';
import { write, type CliIo } from './io.js';
import { renderTable } from './table.js';

/** Events in one synthetic day per partner: roughly each ministry's daily volume on the route (assumption). */
export const DEMO_PARTNERS = [
  { partner: 'MK', count: 600 },
  { partner: 'RS', count: 900 },
  { partner: 'AL', count: 300 },
] as const;

function routeOf(event: ValidEvent): string {
  return (
    event.crossingIrregular?.routeSegment ??
    event.smugglingIncident?.routeSegment ??
    event.assessmentRoute?.routeSegment ??
    '—'
  );
}

/**
 * `wbx demo`: what WBX does so far, end to end on one machine. Generates a day of events for MK, RS
 * and AL, runs every event through its wire form (NDJSON) and the validator, and prints what there is;
 * ends with the analytics dashboard's address and headline figures (`serve`: kept running until Ctrl-C).
 */
export async function demoCommand(
  io: CliIo,
  options: { seed?: string; serve?: boolean } = {},
): Promise<number> {
  const seed = options.seed ?? 'wbx-demo';
  const from = new Date(`${DEFAULT_FROM}T00:00:00Z`);
  const to = new Date(from.getTime() + 24 * 3_600_000);
  const now = io.now();
  const partners = DEMO_PARTNERS.map((p) => p.partner);
  const counts = new Map<string, Map<string, number>>();
  const perPartner: (string | number)[][] = [];
  let persons = 0;
  let allValid = true;
  const days = new Map<string, ValidEvent[]>();
  await write(
    io.stdout,
    `WBX demo — one synthetic day (${DEFAULT_FROM}, seed "${seed}") for ${partners.join(', ')}\n\n`,
  );
  for (const { partner, count } of DEMO_PARTNERS) {
    let valid = 0;
    let invalid = 0;
    for (const generated of generateEvents({ partner, count, seed: `${seed}/${partner}`, from, to })) {
      const result = validateLine(eventToNdjsonLine(generated), { now });
      if (!result.ok) {
        invalid += 1;
        continue;
      }
      valid += 1;
      const event = result.event;
      const day = days.get(partner) ?? [];
      if (day.length === 0) days.set(partner, day);
      day.push(event);
      persons += event.crossingIrregular?.persons.length ?? 0;
      const key = `${event.type}\u0000${routeOf(event)}`;
      const row = counts.get(key) ?? new Map<string, number>();
      row.set(partner, (row.get(partner) ?? 0) + 1);
      counts.set(key, row);
    }
    allValid &&= invalid === 0;
    perPartner.push([partner, count, valid, invalid]);
  }
  await write(io.stdout, `${renderTable(['partner', 'generated', 'valid', 'invalid'], perPartner)}\n\n`);
  const rows = [...counts.entries()]
    .map(([key, byPartner]) => {
      const [type = '', route = ''] = key.split('\u0000');
      const cells = partners.map((p) => byPartner.get(p) ?? 0);
      return [type, route, ...cells, cells.reduce((a, b) => a + b, 0)];
    })
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(b.at(-1)) - Number(a.at(-1)));
  await write(io.stdout, `Events by type and route segment\n`);
  await write(io.stdout, `${renderTable(['type', 'route', ...partners, 'total'], rows)}\n\n`);
  await write(io.stdout, `Persons in irregular-crossing reports: ${persons.toLocaleString('en')}\n`);
  await write(io.stdout, allValid ? 'Every event is valid.\n\n' : 'Some events were INVALID.\n\n');
  const sealed = await sealDemo(io, days.get('MK') ?? []);
  await write(io.stdout, '\n');
  const federated = await federationDemo(io, days, { serve: options.serve === true });
  return allValid && sealed && federated ? 0 : 1;
}
