import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

import { parseManifestBody, type ManifestBody, type SigningKey } from '@wbx/registry';
import { validateEvent, type ValidEvent } from '@wbx/schema';
import { generateEvents } from '@wbx/synth';

import { createSealer, type Sealer } from '../src/index.js';

export const NOW = new Date('2024-06-01T12:00:00Z');
export const KID = 'MK#2024-01-01-1';

export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function newKey(kid = KID): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, publicKey };
}

export function manifestFor(
  keys: { member: string; key: TestKey; notBefore?: string; notAfter?: string; revokedAt?: string }[],
): ManifestBody {
  const members = new Map<string, { id: string; keys: SigningKey[] }>();
  for (const { member, key, notBefore, notAfter, revokedAt } of keys) {
    const m = members.get(member) ?? { id: member, keys: [] };
    const jwk = key.publicKey.export({ format: 'jwk' }) as { x: string };
    m.keys.push({
      kid: key.kid,
      jwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
      notBefore: notBefore ?? '2020-01-01T00:00:00Z',
      ...(notAfter === undefined ? {} : { notAfter }),
      ...(revokedAt === undefined ? {} : { revokedAt }),
    });
    members.set(member, m);
  }
  return parseManifestBody({
    version: 1,
    threshold: 1,
    issuedAt: '2024-01-01T00:00:00Z',
    members: [...members.values()].map((m) => ({
      id: m.id,
      name: m.id,
      roles: ['origin', 'recipient'],
      signingKeys: m.keys,
      tlsCertSha256: [],
    })),
  });
}

/** Valid events of the given partner from the synthetic generator, validated (defaults filled). */
export function events(partner = 'MK', count = 200, seed = 'seal-tests'): ValidEvent[] {
  const out: ValidEvent[] = [];
  const from = new Date('2024-05-01T00:00:00Z');
  const to = new Date('2024-05-31T00:00:00Z');
  for (const e of generateEvents({ partner, count, seed, from, to })) {
    const r = validateEvent(JSON.parse(JSON.stringify(e)), { now: NOW });
    if (!r.ok) throw new Error(`generated event invalid: ${JSON.stringify(r.violations)}`);
    out.push(r.event);
  }
  return out;
}

export function firstOfType(list: ValidEvent[], type: string): ValidEvent {
  const e = list.find((x) => x.type === type);
  if (e === undefined) throw new Error(`no ${type} event`);
  return e;
}

export function sealer(key: TestKey, issuer = 'MK'): Sealer {
  return createSealer({ issuer, kid: key.kid, privateKey: key.privateKey });
}

const b64 = (v: unknown): string =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function decodePart(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

export interface Crafted {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  disclosures: string[];
}

/** Takes a token apart into header, payload and encoded disclosures, for crafting attacks. */
export function takeApart(token: string): Crafted {
  const [jwt = '', ...rest] = token.split('~');
  const [h = '', p = ''] = jwt.split('.');
  return {
    header: decodePart(h) as Record<string, unknown>,
    payload: decodePart(p) as Record<string, unknown>,
    disclosures: rest.slice(0, -1),
  };
}

/** Builds a token from parts, signed with an Ed25519 key, an HMAC secret, or not at all. */
export function craft(c: Crafted, signer: KeyObject | Buffer | 'none'): string {
  const input = `${b64(c.header)}.${b64(c.payload)}`;
  let sig: string;
  if (signer === 'none') sig = '';
  else if (Buffer.isBuffer(signer)) sig = createHmac('sha256', signer).update(input).digest('base64url');
  else sig = sign(null, Buffer.from(input), signer).toString('base64url');
  return `${input}.${sig}~${c.disclosures.map((d) => `${d}~`).join('')}`;
}

export function encodeDisclosure(arr: unknown[]): string {
  return b64(arr);
}
