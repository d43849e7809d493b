import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { PolicyEvent } from '@wbx/agreements';
import { GATEWAY_NKEY_FILE, type Gateway } from '@wbx/gateway';
import { CATALOGUE, validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';

export { submitAll } from '@wbx/fixtures';

/** Generated events of `partner`, validated as the gateway takes them. */
export function events(partner: string, count: number, seed: string, from: string, to: string): ValidEvent[] {
  return [...generateEvents({ partner, count, seed, from: new Date(from), to: new Date(to) })].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)));
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
}

/** An event as the policy engine sees it: its body fields and occurredAt as claims. */
export function policyEvent(e: ValidEvent): PolicyEvent {
  const body = (e as unknown as Record<string, unknown>)[CATALOGUE[e.type]];
  return {
    type: e.type,
    origin: e.origin,
    claims: { occurredAt: e.occurredAt, recordedAt: e.recordedAt, ...(body as Record<string, unknown>) },
  };
}

/** A connection of the analytics node to its gateway's NATS, with the gateway's own credentials. */
export async function connectToGateway(gateway: Gateway): Promise<NatsConnection> {
  const seed = (await readFile(join(gateway.accessDir ?? '', GATEWAY_NKEY_FILE), 'utf8')).trim();
  return connect({
    servers: gateway.natsUrl,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
  });
}

/** A minimal RFC 4180 reader: rows of fields (quoted fields may hold commas, quotes and line breaks). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}
