import { createHmac, hash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A subject reference as events carry it, and as Match takes it: 64 lowercase hex characters. */
export const SUBJECT_REF_RE = /^[0-9a-f]{64}$/;

/**
 * Subject references keyed per agreement: `HMAC-SHA-256(K_a, ref)` with `K_a = HMAC-SHA-256(secret,
 * "wbx-subject-ref/v1/" + agreementId)`. The secret never leaves the gateway, so a recipient cannot
 * undo the keying, and two agreements' references to the same person differ.
 */
export class Pseudonyms {
  private readonly keys = new Map<string, { ipad: Buffer; opad: Buffer }>();

  constructor(private readonly secret: Buffer) {}

  /** Loads the gateway's secret from `file`, creating it (32 random bytes, mode 0600) the first time. */
  static async open(file: string): Promise<Pseudonyms> {
    let secret: Buffer;
    try {
      secret = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64url');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      secret = randomBytes(32);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${secret.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    }
    if (secret.length < 32) throw new Error(`${file}: the subject-reference secret must be 32 bytes`);
    return new Pseudonyms(secret);
  }

  /**
   * The reference `ref` keyed for `agreementId`: HMAC-SHA-256 (RFC 2104) computed from the key's padded
   * blocks with two one-shot hashes — `createHmac` costs ≈ 16 µs a call here, this ≈ 3 µs.
   */
  keyed(agreementId: string, ref: string): string {
    let pads = this.keys.get(agreementId);
    if (pads === undefined) {
      const key = createHmac('sha256', this.secret).update(`wbx-subject-ref/v1/${agreementId}`).digest();
      const ipad = Buffer.alloc(64, 0x36);
      const opad = Buffer.alloc(64, 0x5c);
      for (let i = 0; i < key.length; i++) {
        ipad[i] = (ipad[i] ?? 0) ^ (key[i] ?? 0);
        opad[i] = (opad[i] ?? 0) ^ (key[i] ?? 0);
      }
      pads = { ipad, opad };
      this.keys.set(agreementId, pads);
    }
    const inner = hash('sha256', Buffer.concat([pads.ipad, Buffer.from(ref)]), 'buffer');
    return hash('sha256', Buffer.concat([pads.opad, inner]), 'hex');
  }
}

/** The subject references of an event's persons (`persons[]` or `person`), '' where a person has none. */
export function subjectRefsOf(claims: Readonly<Record<string, unknown>>): string[] {
  const persons = Array.isArray(claims.persons)
    ? (claims.persons as unknown[])
    : claims.person === undefined
      ? []
      : [claims.person];
  return persons.map((p) => {
    const ref = p !== null && typeof p === 'object' ? (p as { subjectRef?: unknown }).subjectRef : undefined;
    return typeof ref === 'string' ? ref : '';
  });
}
