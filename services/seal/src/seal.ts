import { sign, type KeyObject } from 'node:crypto';

import { CATALOGUE, PERSON_FIELDS, type ValidEvent } from '@wbx/schema';

import { createDisclosure } from './disclosure.js';
import { SealError } from './errors.js';
import { b64u } from './internal/base64url.js';
import { SaltPool } from './internal/salt.js';
import { SD_ALG, SEAL_ALG, SEAL_TYP } from './profile.js';

export interface SealerOptions {
  /** The partner code of the origin: the `iss` of every token, and the only origin it seals for. */
  readonly issuer: string;
  /** `<partner>#<key id>`, as listed in the federation manifest. */
  readonly kid: string;
  /** The Ed25519 private key. */
  readonly privateKey: KeyObject;
  /**
   * Decoy digests added to each `_sd` array: 1 to 4 at the top level, where optional fields vary; 1 or 2
   * in each person, where only `subjectRef` may be absent.
   */
}

export interface SealOptions {
  /** Issuance time (`iat`); default: now. */
  readonly now?: Date;
}

/** Seals validated events of one origin as SD-JWTs (RFC 9901) with the WBX profile. */
export interface Sealer {
  readonly issuer: string;
  readonly kid: string;
  /** Returns `<issuer-signed JWT>~<disclosure>~…~` with every field a disclosure. */
  seal(event: ValidEvent, options?: SealOptions): string;
}

export function createSealer(options: SealerOptions): Sealer {
  const { issuer, kid, privateKey } = options;
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new SealError('INVALID_EVENT', 'the sealing key must be an Ed25519 private key');
  }
  if (!kid.startsWith(`${issuer}#`)) {
    throw new SealError('INVALID_EVENT', `kid ${kid} does not belong to issuer ${issuer}`);
  }
  const salts = new SaltPool();
  const header = b64u(JSON.stringify({ alg: SEAL_ALG, typ: SEAL_TYP, kid }));

  function withDecoys(digests: string[], spread: 2 | 4): string[] {
    const extra = 1 + salts.small(spread);
    for (let i = 0; i < extra; i++) digests.push(salts.decoy());
    return digests.sort();
  }

  return {
    issuer,
    kid,
    seal(event, sealOptions = {}) {
      if (event.origin !== issuer) {
        throw new SealError('INVALID_EVENT', `cannot seal an event of ${event.origin} as ${issuer}`);
      }
      const body = event[CATALOGUE[event.type]] as Record<string, unknown> | undefined;
      if (body === undefined) throw new SealError('INVALID_EVENT', `the event has no ${event.type} body`);
      const encoded: string[] = [];
      const disclose = (name: string, value: unknown, into: string[]): void => {
        const d = createDisclosure(salts.next(), name, value);
        encoded.push(d.encoded);
        into.push(d.digest);
      };
      const sealPerson = (person: Record<string, unknown>): { _sd: string[] } => {
        const digests: string[] = [];
        for (const [attr, value] of Object.entries(person))
          if (value !== undefined) disclose(attr, value, digests);
        return { _sd: withDecoys(digests, 2) };
      };
      const top: string[] = [];
      disclose('occurredAt', event.occurredAt, top);
      disclose('recordedAt', event.recordedAt, top);
      for (const [name, value] of Object.entries(body)) {
        if (value === undefined) continue;
        if (!PERSON_FIELDS.includes(name)) disclose(name, value, top);
        else if (Array.isArray(value))
          disclose(
            name,
            value.map((p) => sealPerson(p as Record<string, unknown>)),
            top,
          );
        else disclose(name, sealPerson(value as Record<string, unknown>), top);
      }
      const payload = {
        iss: issuer,
        jti: event.eventId,
        iat: Math.floor((sealOptions.now ?? new Date()).getTime() / 1000),
        wbx_type: event.type,
        wbx_v: event.schemaVersion,
        _sd_alg: SD_ALG,
        _sd: withDecoys(top, 4),
      };
      const signingInput = `${header}.${b64u(JSON.stringify(payload))}`;
      const signature = sign(null, Buffer.from(signingInput), privateKey).toString('base64url');
      return `${signingInput}.${signature}~${encoded.join('~')}~`;
    },
  };
}
