import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

import { decodeManifest, importPrivateJwk, type ManifestBody, type SignedManifest } from '@wbx/registry';
import { validateEvent } from '@wbx/schema';
import { createSealer, disclose } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { VerifyPool } from '../../src/workers/verify-pool.js';
import { makeIdentity } from '@wbx/test-helpers';

let dir: string;
let manifest: ManifestBody;
let tokens: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-pool-'));
  const id = await makeIdentity(dir, ['MK']);
  manifest = decodeManifest(JSON.parse(await readFile(id.manifestFile, 'utf8')) as SignedManifest);
  const key = importPrivateJwk(JSON.parse(await readFile(id.keyFile('MK'), 'utf8')));
  const sealer = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key });
  const now = new Date();
  tokens = [
    ...generateEvents({
      partner: 'MK',
      count: 40,
      seed: 'pool',
      from: new Date('2024-01-01'),
      to: new Date('2024-01-05'),
    }),
  ].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)), { now });
    if (!r.ok) throw new Error('invalid generated event');
    return disclose(sealer.seal(r.event, { now }), ['occurredAt', 'routeSegment', 'persons.citizenship']);
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('VerifyPool (worker threads)', () => {
  it('verifies batches on its workers, each result in its token’s place, refusals by code', async () => {
    const pool = new VerifyPool({ manifest, size: 2 });
    try {
      const tampered = tokens.map((t, i) => (i % 5 === 0 ? t.replace(/\.([A-Za-z0-9_-])/, '.X$1') : t));
      const halves = [tampered.slice(0, 20), tampered.slice(20)];
      const results = (await Promise.all(halves.map((h) => pool.verifyBatch(h)))).flat();
      expect(results).toHaveLength(tokens.length);
      results.forEach((r, i) => {
        if (i % 5 === 0) expect(r).toMatchObject({ ok: false });
        else expect(r).toMatchObject({ ok: true, claims: { iss: 'MK' } });
      });
      const ok = results.find((r) => r.ok);
      expect(ok?.ok === true ? ok.disclosed : []).toContain('routeSegment');
      const codes = results.flatMap((r) => (r.ok ? [] : [r.code]));
      expect(codes).toHaveLength(8);
      expect(codes).not.toContain('INTERNAL');
    } finally {
      await pool.close();
    }
    await expect(pool.verifyBatch(tokens.slice(0, 1))).rejects.toThrow(/closed/);
  });

  it('fails the batch of a worker that dies, replaces the worker, and goes on', async () => {
    const pool = new VerifyPool({ manifest, size: 2 });
    const workers = (pool as unknown as { pool: { workers: Worker[] } }).pool.workers;
    try {
      // To workers[0], and long enough (400 tokens) that it cannot be done before the thread is stopped.
      const doomed = pool.verifyBatch(Array.from({ length: 10 }, () => tokens).flat());
      await workers[0]?.terminate();
      await expect(doomed).rejects.toThrow(/exited/);
      // Every later batch is answered, whichever worker it goes to.
      const later = await Promise.all([0, 1, 2, 3].map(() => pool.verifyBatch(tokens.slice(0, 5))));
      expect(later.flat().every((r) => r.ok)).toBe(true);
      expect(pool.size).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('carries back only the claims its user names', async () => {
    const pool = new VerifyPool({ manifest, size: 1, claims: ['iss', 'jti', 'wbx_type'] });
    try {
      const [r] = await pool.verifyBatch(tokens.slice(0, 1));
      expect(r?.ok === true ? Object.keys(r.claims).sort() : r).toEqual(['iss', 'jti', 'wbx_type']);
      expect(r?.ok === true ? r.disclosed : []).toContain('routeSegment');
    } finally {
      await pool.close();
    }
  });
});
