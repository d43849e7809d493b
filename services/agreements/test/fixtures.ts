import type { KeyObject } from 'node:crypto';

import { generateSigningKey, importPrivateJwk, parseManifestBody, type ManifestBody } from '@wbx/registry';
import { CATALOGUE, validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';

import { AgreementError, draftAndSign, type PolicyEvent, type SignedAgreement } from '../src/index.js';

export const KEY_DAY = new Date('2026-01-05T00:00:00Z');
export const SIGNED_AT = new Date('2026-01-15T00:00:00Z');
export const NOW = new Date('2026-03-01T12:00:00Z');
export const VALID_FROM = '2026-02-01T00:00:00Z';
export const VALID_UNTIL = '2027-02-01T00:00:00Z';

export interface PartyKey {
  readonly kid: string;
  readonly key: KeyObject;
}

function partyKey(id: string): PartyKey & { x: string } {
  const generated = generateSigningKey(id, KEY_DAY);
  const { kid, key } = importPrivateJwk(generated.privateJwk);
  return { kid, key, x: generated.publicJwk.x };
}

const generated = { MK: partyKey('MK'), RS: partyKey('RS'), AL: partyKey('AL') };
export const KEYS: Readonly<Record<'MK' | 'RS' | 'AL', PartyKey>> = generated;

/** A manifest (body) listing MK, RS and AL with their keys, valid from 2026-01-01. */
export const MANIFEST: ManifestBody = parseManifestBody({
  version: 1,
  threshold: 1,
  issuedAt: '2026-01-05T00:00:00Z',
  members: Object.entries(generated).map(([id, k]) => ({
    id,
    name: id,
    roles: ['origin', 'recipient'],
    signingKeys: [
      { kid: k.kid, jwk: { kty: 'OKP', crv: 'Ed25519', x: k.x }, notBefore: '2026-01-01T00:00:00Z' },
    ],
    tlsCertSha256: [],
  })),
});

/** A valid agreement body: MK provides RS crossing records and monthly asylum aggregates. */
export function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'MK-RS-2026-001',
    provider: 'MK',
    recipient: 'RS',
    purposes: ['border-management', 'risk-analysis'],
    legalBasis: 'Agreement on border cooperation, Art. 7',
    validFrom: VALID_FROM,
    validUntil: VALID_UNTIL,
    terms: [
      {
        types: ['crossing.irregular'],
        mode: 'records',
        fields: ['occurredAt', 'routeSegment', 'persons.citizenship', 'persons.ageBand'],
        retentionDays: 90,
      },
      {
        types: ['asylum.application'],
        mode: 'aggregate',
        dimensions: ['person.citizenship'],
        period: 'month',
        retentionDays: 365,
      },
    ],
    ...overrides,
  };
}

/** A term, valid on its own. */
export function recordsTerm(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    types: ['crossing.irregular'],
    mode: 'records',
    fields: ['routeSegment'],
    retentionDays: 30,
    ...overrides,
  };
}

/** Drafts `input` and signs it by each party in turn (at SIGNED_AT unless given). */
export function signed(
  input: Record<string, unknown>,
  signers: readonly (keyof typeof KEYS)[],
  at = SIGNED_AT,
): Promise<SignedAgreement> {
  return draftAndSign(
    input,
    signers.map((s) => KEYS[s]),
    at,
  );
}

/** The AgreementError `fn` throws (fails the test if it throws nothing or something else). */
export function agreementError(fn: () => unknown): AgreementError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AgreementError) return e;
    throw e;
  }
  throw new Error('expected an AgreementError, nothing was thrown');
}

export async function agreementErrorAsync(fn: () => Promise<unknown>): Promise<AgreementError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AgreementError) return e;
    throw e;
  }
  throw new Error('expected an AgreementError, nothing was thrown');
}

/** The policy view of a validated event: type, origin, body-level claims. */
export function policyEvent(event: ValidEvent): PolicyEvent {
  const bodyValue = (event as Record<string, unknown>)[CATALOGUE[event.type]];
  const fields = Object.entries(bodyValue ?? {}).filter(([, v]) => v !== undefined);
  return {
    type: event.type,
    origin: event.origin,
    claims: { occurredAt: event.occurredAt, recordedAt: event.recordedAt, ...Object.fromEntries(fields) },
  };
}

/** `count` synthetic, validated events of `partner` in [from, to). */
export function syntheticEvents(
  partner: string,
  count: number,
  seed: string,
  from: Date,
  to: Date,
): ValidEvent[] {
  const now = new Date(to.getTime() + 86_400_000);
  return [...generateEvents({ partner, count, seed, from, to })].map((e) => {
    const r = validateEvent(JSON.parse(JSON.stringify(e)) as unknown, { now });
    if (!r.ok) throw new Error(JSON.stringify(r.violations));
    return r.event;
  });
}
