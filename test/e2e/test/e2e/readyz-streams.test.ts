import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '@wbx/gateway';
import { startFederation, type Federation } from '@wbx/fixtures';
import { until } from '@wbx/test-helpers';

let fed: Federation;
let mk: Gateway;
/** /readyz once MK started, before any test deleted a stream. */
let atStart: Awaited<ReturnType<typeof readyz>>;

async function readyz(g: Gateway): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
  const res = await fetch(`http://${g.httpAddress}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reasons: string[] } };
}

beforeAll(async () => {
  fed = await startFederation(['MK', 'RS']);
  await fed.agree({
    id: 'MK-RS-readyz',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management'],
    legalBasis: 'Test agreement under the Skopje Declaration',
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    terms: [{ types: ['crossing.irregular'], mode: 'records', fields: ['occurredAt'], retentionDays: 30 }],
  });
  mk = await fed.start('MK');
  atStart = await until('ready', async () => {
    const r = await readyz(mk);
    return r.status === 200 ? r : undefined;
  });
}, 60_000);

afterAll(async () => {
  await fed[Symbol.asyncDispose]();
});

describe('/readyz and the streams the gateway needs', () => {
  // Each test below deletes a stream for good: this one reads what /readyz said before any did.
  it('is ready while every stream is there', () => {
    expect(atStart).toEqual({ status: 200, body: { ready: true, reasons: [] } });
  });

  it.each(['WBX_SHARE_RS', 'KV_wbx_state', 'WBX_AUDIT'])(
    'says not ready, naming it, when %s is deleted',
    async (stream) => {
      const jsm = await jetstreamManager(mk.nats);
      await jsm.streams.delete(stream);
      const r = await until(`${stream} reported`, async () => {
        const got = await readyz(mk);
        return got.body.reasons.includes(`stream ${stream} missing`) ? got : undefined;
      });
      expect(r.status).toBe(503);
      expect(r.body.ready).toBe(false);
    },
  );
});
