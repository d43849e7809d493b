import { sign, type KeyObject } from 'node:crypto';

import { CATALOGUE, PERSON_FIELDS, type ValidEvent } from '@wbx/schema';

import { SealError } from './errors.js';
import { b64u } from './internal/base64url.js';
import { DisclosureBatch } from './internal/batch.js';
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
  const payloadStart = `{"iss":${JSON.stringify(issuer)},"jti":`;

  /** The digests plus 1 to `spread` decoys, sorted, as the JSON of an `_sd` array. */
  function sdJson(digests: string[], spread: 2 | 4): string {
    const extra = 1 + salts.small(spread);
    for (let i = 0; i < extra; i++) digests.push(salts.decoy());
    return `["${digests.sort().join('","')}"]`; // base64url digests: nothing to escape
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
      // Leaves first (event times, plain fields, person attributes), in one batch; then the person
      // fields, whose values are objects of their attributes' digests.
      const leaves = new DisclosureBatch();
      const top: number[] = [leaves.add(salts.next(), 'occurredAt', event.occurredAt)];
      top.push(leaves.add(salts.next(), 'recordedAt', event.recordedAt));
      const personFields: { name: string; list: boolean; persons: number[][] }[] = [];
      const personAttributes = (person: Record<string, unknown>): number[] => {
        const attrs: number[] = [];
        for (const attr of Object.keys(person)) {
          const value = person[attr];
          if (value !== undefined) attrs.push(leaves.add(salts.next(), attr, value));
        }
        return attrs;
      };
      for (const name of Object.keys(body)) {
        const value = body[name];
        if (value === undefined) continue;
        if (!PERSON_FIELDS.includes(name)) top.push(leaves.add(salts.next(), name, value));
        else if (Array.isArray(value))
          personFields.push({
            name,
            list: true,
            persons: value.map((p) => personAttributes(p as Record<string, unknown>)),
          });
        else
          personFields.push({
            name,
            list: false,
            persons: [personAttributes(value as Record<string, unknown>)],
          });
      }
      const l = leaves.encode();
      const topDigests = top.map((i) => l.digests[i] as string);
      let tail = l.encoded.join('~');
      if (personFields.length > 0) {
        const containers = new DisclosureBatch();
        for (const { name, list, persons } of personFields) {
          const objects = persons.map(
            (attrs) =>
              `{"_sd":${sdJson(
                attrs.map((i) => l.digests[i] as string),
                2,
              )}}`,
          );
          // objects of base64url digests: ASCII
          const json = list ? `[${objects.join(',')}]` : (objects[0] as string);
          containers.addJson(salts.next(), name, json, true);
        }
        const c = containers.encode();
        topDigests.push(...c.digests);
        tail = `${tail}~${c.encoded.join('~')}`;
      }
      const iat = Math.floor((sealOptions.now ?? new Date()).getTime() / 1000);
      // The payload's claims in a fixed order; strings through JSON.stringify, digests need no escaping.
      const payload =
        `${payloadStart}${JSON.stringify(event.eventId)},"iat":${JSON.stringify(iat)}` +
        `,"wbx_type":${JSON.stringify(event.type)},"wbx_v":${JSON.stringify(event.schemaVersion)}` +
        `,"_sd_alg":${JSON.stringify(SD_ALG)},"_sd":${sdJson(topDigests, 4)}}`;
      const signingInput = `${header}.${b64u(payload)}`;
      // base64url is ASCII: latin1 is its exact byte encoding.
      const signature = sign(null, Buffer.from(signingInput, 'latin1'), privateKey).toString('base64url');
      return `${signingInput}.${signature}~${tail}~`;
    },
  };
}
