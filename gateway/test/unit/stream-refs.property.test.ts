import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseAgreementBody, partnerPolicy, type ActiveAgreement } from '@wbx/agreements';
import { decodeManifest, importPrivateJwk, type ManifestBody, type SignedManifest } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { createSealer, holdToken, verifyPresentation, type Sealer } from '@wbx/seal';
import { generateEvents } from '@wbx/synth';
import { makeIdentity } from '@wbx/test-helpers';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pseudonyms } from '../../src/exchange/pseudonyms.js';
import { presentRecord, type StreamRefs } from '../../src/stream-refs.js';

const NOW = new Date();
const PARTNERS = ['MK', 'RS', 'AL', 'FRONTEX'];

function agreement(id: string, recipient: string, fields: string[]): ActiveAgreement {
  return {
    body: parseAgreementBody({
      id,
      provider: 'MK',
      recipient,
      purposes: ['border-management'],
      legalBasis: 'test',
      validFrom: new Date(NOW.getTime() - 86_400_000).toISOString(),
      validUntil: new Date(NOW.getTime() + 86_400_000).toISOString(),
      terms: [{ types: ['crossing.irregular'], mode: 'records', fields, retentionDays: 30 }],
    }),
  };
}

/**
 * RS under two agreements that both grant the references (keyed under the first), AL granted persons
 * whole, and FRONTEX without the references.
 */
const AGREEMENTS = [
  agreement('MK-RS-1', 'RS', ['occurredAt', 'persons.citizenship', 'persons.subjectRef']),
  agreement('MK-RS-2', 'RS', ['routeSegment', 'persons.subjectRef']),
  agreement('MK-AL-1', 'AL', ['occurredAt', 'persons']),
  agreement('MK-FRONTEX-1', 'FRONTEX', ['occurredAt', 'persons.citizenship', 'persons.sex']),
];
const KEYED_UNDER: Readonly<Record<string, string>> = { RS: 'MK-RS-1', AL: 'MK-AL-1' };
const policy = partnerPolicy('MK', AGREEMENTS);

let dir: string;
let manifest: ManifestBody;
let sealer: Sealer;
let signer: StreamRefs['signer'];
let base: ValidEvent;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-stream-refs-'));
  const id = await makeIdentity(dir, PARTNERS);
  manifest = decodeManifest(JSON.parse(await readFile(id.manifestFile, 'utf8')) as SignedManifest);
  const key = importPrivateJwk(JSON.parse(await readFile(id.keyFile('MK'), 'utf8')));
  sealer = createSealer({ issuer: 'MK', kid: key.kid, privateKey: key.key });
  signer = { kid: key.kid, privateKey: key.key };
  const from = new Date('2024-01-01');
  const crossing = [
    ...generateEvents({ partner: 'MK', count: 50, seed: 'refs', from, to: new Date('2024-01-05') }),
  ].find((e) => e.type === 'crossing.irregular');
  const r = validateEvent(JSON.parse(JSON.stringify(crossing)), { now: NOW });
  if (!r.ok) throw new Error('invalid generated event');
  base = r.event;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The federation-wide references of a few persons: the same person shows up in several events. */
const refArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const personArb = (pool: readonly string[]) =>
  fc.record({
    subjectRef: fc.option(fc.constantFrom(...pool), { nil: undefined, freq: 4 }),
    citizenship: fc.constantFrom('SYR', 'AFG', 'MAR', 'XXX'),
    sex: fc.constantFrom('F', 'M', 'X', 'U'),
    ageBand: fc.constantFrom('18-34', '35-64'),
  });
const caseArb = fc
  .record({
    secret: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    pool: fc.uniqueArray(refArb, { minLength: 1, maxLength: 5 }),
  })
  .chain(({ secret, pool }) =>
    fc.record({
      secret: fc.constant(Buffer.from(secret)),
      pool: fc.constant(pool),
      events: fc.array(fc.array(personArb(pool), { minLength: 1, maxLength: 4 }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
  );

type Person = { subjectRef?: string | undefined };

/** The keyed reference as the design states it, with node's own HMAC (not the gateway's code). */
function keyedByHand(secret: Buffer, agreementId: string, ref: string): string {
  const key = createHmac('sha256', secret).update(`wbx-subject-ref/v1/${agreementId}`).digest();
  return createHmac('sha256', key).update(ref).digest('hex');
}

/** Shares `persons` (as one event each) with every recipient and verifies each presentation as it would. */
function shareAndReceive(persons: readonly Person[][], pseudonyms: Pseudonyms) {
  const received: { recipient: string; origin: string | undefined; ref: string | undefined }[] = [];
  const tokens: string[] = [];
  for (const list of persons) {
    const event = {
      ...base,
      eventId: base.eventId.slice(0, -12) + randomBytes(6).toString('hex'),
      crossingIrregular: {
        ...base.crossingIrregular,
        persons: list.map((p) => JSON.parse(JSON.stringify(p)) as Person),
      },
    };
    const r = validateEvent(JSON.parse(JSON.stringify(event)), { now: NOW });
    if (!r.ok) throw new Error(`invalid event: ${JSON.stringify(r.violations)}`);
    const own = holdToken(sealer.seal(r.event, { now: NOW }));
    for (const grant of policy.grants({ type: own.type, origin: 'MK', claims: own.claims }, NOW)) {
      const token = presentRecord(own, grant, policy, { pseudonyms, signer }, NOW);
      tokens.push(token);
      const v = verifyPresentation(token, { manifest, now: NOW });
      const check = partnerPolicy(grant.recipient, AGREEMENTS).check({
        origin: v.issuer,
        type: v.type,
        iat: v.issuedAt.getTime() / 1000,
        claims: v.claims,
        disclosed: v.disclosed,
      });
      expect(check.ok).toBe(true);
      // A binding only where a person has a reference to key.
      const keyed = list.some((p) => p.subjectRef !== undefined);
      expect(v.refAgreement).toBe(keyed ? KEYED_UNDER[grant.recipient] : undefined);
      const got = (v.claims.persons as Person[]).map((p) => p.subjectRef);
      expect(got).toHaveLength(list.length);
      list.forEach((p, i) =>
        received.push({ recipient: grant.recipient, origin: p.subjectRef, ref: got[i] }),
      );
    }
  }
  return { received, tokens };
}

describe('stream references (property)', () => {
  it('never gives two recipients a common reference for a person, and one recipient always the same one', () => {
    /** Cases in which both RS and AL received references, so the comparison between them ran. */
    let compared = 0;
    fc.assert(
      fc.property(caseArb, ({ secret, pool, events }) => {
        const pseudonyms = new Pseudonyms(secret);
        const { received, tokens } = shareAndReceive(events, pseudonyms);
        // The origin's own references never leave, in any token.
        for (const t of tokens) for (const ref of pool) expect(t).not.toContain(ref);
        // Per recipient, one reference per person, the one Exchange's Query and Match use under the
        // agreement; none for a person without one, and none at all where the references are not granted.
        const byRecipient = new Map<string, Map<string, string>>();
        for (const { recipient, origin, ref } of received) {
          if (origin === undefined || KEYED_UNDER[recipient] === undefined) {
            expect(ref).toBeUndefined();
            continue;
          }
          expect(ref).toBe(pseudonyms.keyed(KEYED_UNDER[recipient], origin));
          expect(ref).toBe(keyedByHand(secret, KEYED_UNDER[recipient], origin));
          const seen = byRecipient.get(recipient) ?? new Map<string, string>();
          byRecipient.set(recipient, seen);
          expect(seen.get(origin) ?? ref).toBe(ref);
          seen.set(origin, ref as string);
        }
        // No reference in common between two recipients, for the same person or any other.
        const [rs, al] = [byRecipient.get('RS'), byRecipient.get('AL')];
        const rsRefs = new Set(rs?.values());
        for (const ref of al?.values() ?? []) expect(rsRefs.has(ref)).toBe(false);
        if (rsRefs.size > 0 && (al?.size ?? 0) > 0) compared += 1;
        expect(new Set(rs?.values()).size).toBe(rs?.size ?? 0);
        // The same secret again (a restart, another replica): the very same references.
        const again = shareAndReceive(events, new Pseudonyms(Buffer.from(secret)));
        expect(again.received).toEqual(received);
      }),
      { numRuns: 60 },
    );
    expect(compared).toBeGreaterThan(0);
  });
});
