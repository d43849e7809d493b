import { verifyJws } from '@wbx/jws';

import { RegistryError } from '../errors.js';
import type { SignedManifest } from '../manifest.js';
import type { IndexedKey, KeyIndex } from './key-index.js';
import { signatureKid } from './protected-header.js';
import { keyStatusAt } from './time.js';

/** A set of keys that signatures are counted against, e.g. "trusted version 3". */
export interface Keyring {
  readonly label: string;
  readonly index: KeyIndex;
}

export interface Tally {
  /** Per keyring, the distinct members whose keys made a valid signature, usable at the time. */
  readonly signers: readonly ReadonlySet<string>[];
  /** Why valid signatures did not count for a keyring (expired, revoked, not listed there). */
  readonly ignored: readonly string[];
}

const badSignature = (i: number, reason: string): RegistryError =>
  new RegistryError('BAD_SIGNATURE', `signature ${i}: verification failed`, {
    details: [`signatures[${i}]: ${reason}`],
  });

/**
 * Verifies every signature and counts, per keyring, the members whose key was valid at `at`. Every
 * signature must verify: a bad one fails the whole manifest (BAD_SIGNATURE), as does a kid that no
 * keyring lists (UNKNOWN_SIGNER) or one that signs twice (DUPLICATE_SIGNER).
 */
export function tallySignatures(signed: SignedManifest, keyrings: readonly Keyring[], at: number): Tally {
  const signers = keyrings.map(() => new Set<string>());
  const ignored: string[] = [];
  const seen = new Set<string>();
  signed.signatures.forEach((s, i) => {
    const kid = signatureKid(s.protected, i);
    if (seen.has(kid)) throw new RegistryError('DUPLICATE_SIGNER', `signature ${i}: ${kid} signs twice`);
    seen.add(kid);
    const entries = keyrings.map((r) => r.index.keys.get(kid));
    const entry = entries.find((e): e is IndexedKey => e !== undefined);
    if (entry === undefined) {
      throw new RegistryError('UNKNOWN_SIGNER', `signature ${i}: ${kid} is not a key of the federation`);
    }
    const verdict = verifyJws(signed.payload, s, entry.keyObject);
    if (verdict === 'MALFORMED') throw badSignature(i, 'not a 64-byte Ed25519 signature');
    if (verdict === 'INVALID') throw badSignature(i, 'does not verify');
    entries.forEach((e, r) => {
      const label = keyrings[r]?.label ?? '';
      if (e === undefined) {
        ignored.push(`${kid}: not a key of ${label}`);
        return;
      }
      const status = keyStatusAt(e.window, at);
      if (status === 'VALID') signers[r]?.add(e.memberId);
      else ignored.push(`${kid}: ${status} in ${label}`);
    });
  });
  return { signers, ignored };
}

/** Throws INSUFFICIENT_SIGNATURES unless at least `threshold` distinct members signed. */
export function requireThreshold(
  signers: ReadonlySet<string> | undefined,
  threshold: number,
  label: string,
  tally: Tally,
): void {
  const got = signers?.size ?? 0;
  if (got >= threshold) return;
  const who = signers === undefined || got === 0 ? 'none' : [...signers].sort().join(', ');
  throw new RegistryError(
    'INSUFFICIENT_SIGNATURES',
    `${label}: ${got} of the ${threshold} required members signed (${who})`,
    { details: [...tally.ignored] },
  );
}
