import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeManifest, importPrivateJwk, type ManifestBody, type SignedManifest } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer, verifyPresentation } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SealPool } from '../../src/workers/seal-pool.js';
import { makeIdentity } from '@wbx/test-helpers';

let dir: string;
let manifest: ManifestBody;
let key: ReturnType<typeof importPrivateJwk>;
let events: ValidEvent[];
const now = new Date();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-seal-pool-'));
  const id = await makeIdentity(dir, ['MK']);
  manifest = decodeManifest(JSON.parse(await readFile(id.manifestFile, 'utf8')) as SignedManifest);
  key = importPrivateJwk(JSON.parse(await readFile(id.keyFile('MK'), 'utf8')));
  events = [
    ...generateEvents({
      partner: 'MK',
      count: 150,
      seed: 'seal-pool',
      from: new Date('2024-01-01'),
      to: new Date('2024-01-05'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)), { now });
    if (!r.ok) throw new Error('invalid generated event');
    return r.event;
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SealPool (ingest sealing on worker threads)', () => {
  it('seals a burst on its workers and a trickle here, every token verifying as the event it was given', async () => {
    const local = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key });
    const pool = new SealPool({ issuer: 'MK', kid: key.kid, privateKey: key.key, size: 2 }, local);
    try {
      const burst = await Promise.all(events.map((e) => pool.seal(e, now)));
      const trickle = [await pool.seal(events[0]!, now), await pool.seal(events[1]!, now)];
      for (const [i, token] of [...burst, ...trickle].entries()) {
        const event = events[i < burst.length ? i : i - burst.length]!;
        const v = verifyPresentation(token, { manifest, now });
        expect(v.claims).toMatchObject({
          iss: 'MK',
          jti: event.eventId,
          wbx_type: event.type,
          iat: Math.floor(now.getTime() / 1000),
        });
      }
    } finally {
      await pool.close();
    }
    await expect(pool.seal(events[0]!, now)).resolves.toBeTypeOf('string'); // a trickle needs no worker
    await expect(Promise.all(events.slice(0, 10).map((e) => pool.seal(e, now)))).rejects.toThrow(/closed/);
  });

  it('refuses, on the worker, an event of another origin, and only that one', async () => {
    const local = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key });
    const pool = new SealPool({ issuer: 'MK', kid: key.kid, privateKey: key.key, size: 1 }, local);
    try {
      const batch = events.slice(0, 8).map((e, i) => (i === 3 ? { ...e, origin: 'RS' as const } : e));
      const results = await Promise.allSettled(batch.map((e) => pool.seal(e, now)));
      expect(results.map((r) => r.status)).toEqual(batch.map((_, i) => (i === 3 ? 'rejected' : 'fulfilled')));
    } finally {
      await pool.close();
    }
  });
});
