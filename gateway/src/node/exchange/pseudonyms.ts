import { createHmac, randomBytes } from 'node:crypto';
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
  private readonly keys = new Map<string, Buffer>();

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

  /** The reference `ref` keyed for `agreementId`. */
  keyed(agreementId: string, ref: string): string {
    let key = this.keys.get(agreementId);
    if (key === undefined) {
      key = createHmac('sha256', this.secret).update(`wbx-subject-ref/v1/${agreementId}`).digest();
      this.keys.set(agreementId, key);
    }
    return createHmac('sha256', key).update(ref).digest('hex');
  }
}

/** The subject references of an event's persons (`persons[]` or `person`), '' where a person has none. */
export function subjectRefsOf(claims: Readonly<Record<string, unknown>>): string[] {
  const persons = Array.isArray(claims.persons) ? (claims.persons as unknown[]) : claims.person === undefined ? [] : [claims.person];
  return persons.map((p) => {
    const ref = p !== null && typeof p === 'object' ? (p as { subjectRef?: unknown }).subjectRef : undefined;
    return typeof ref === 'string' ? ref : '';
  });
} // prettier-ignore
