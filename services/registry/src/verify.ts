import type { ManifestBody } from './body.js';
import { RegistryError } from './errors.js';
import { keyIndex } from './internal/key-index.js';
import { requireThreshold, tallySignatures } from './internal/tally.js';
import { instant } from './internal/time.js';
import { decodeManifest, type SignedManifest } from './manifest.js';

/**
 * Verifies a first (pinned) manifest on its own: at least `threshold` distinct members of it signed with
 * a key it lists for them, valid and not revoked at its `issuedAt`. Every signature must verify and name
 * a listed kid. Returns the body, frozen.
 *
 * Throws MALFORMED_MANIFEST, BAD_SIGNATURE, UNKNOWN_SIGNER, DUPLICATE_SIGNER, INSUFFICIENT_SIGNATURES.
 */
export function verifyRootManifest(signed: SignedManifest): ManifestBody {
  const body = decodeManifest(signed);
  const label = `version ${body.version}`;
  const tally = tallySignatures(signed, [{ label, index: keyIndex(body) }], instant(body.issuedAt));
  requireThreshold(tally.signers[0], body.threshold, label, tally);
  return body;
}

/**
 * TUF-style rotation: accepts `candidate` as the successor of `trusted` if it is exactly the next
 * version, not issued before it, signed by at least `trusted.threshold` distinct members of the TRUSTED
 * version with keys listed there, and by at least its own threshold of its own members with its own
 * keys (keys valid at the candidate's `issuedAt` in both cases). A member new in the candidate never
 * counts toward the trusted threshold, so no member can add itself. A kid may not name different key
 * material in the two versions. Returns the candidate's body, frozen.
 *
 * Throws MALFORMED_MANIFEST, ROLLBACK, VERSION_GAP, ISSUED_AT_ROLLBACK, KEY_MISMATCH, BAD_SIGNATURE,
 * UNKNOWN_SIGNER, DUPLICATE_SIGNER, INSUFFICIENT_SIGNATURES.
 */
export function acceptNextManifest(trusted: ManifestBody, candidate: SignedManifest): ManifestBody {
  const body = decodeManifest(candidate);
  if (body.version <= trusted.version) {
    throw new RegistryError(
      'ROLLBACK',
      `version ${body.version} is not newer than the trusted version ${trusted.version}`,
    );
  }
  if (body.version !== trusted.version + 1) {
    throw new RegistryError(
      'VERSION_GAP',
      `version ${body.version} does not follow the trusted version ${trusted.version}`,
    );
  }
  if (instant(body.issuedAt) < instant(trusted.issuedAt)) {
    throw new RegistryError(
      'ISSUED_AT_ROLLBACK',
      `version ${body.version} is issued before the trusted version ${trusted.version}`,
    );
  }
  const trustedIndex = keyIndex(trusted);
  const candidateIndex = keyIndex(body);
  for (const [kid, entry] of candidateIndex.keys) {
    const before = trustedIndex.keys.get(kid);
    if (before !== undefined && before.key.jwk.x !== entry.key.jwk.x) {
      throw new RegistryError('KEY_MISMATCH', `version ${body.version} binds ${kid} to a different key`);
    }
  }
  const trustedLabel = `trusted version ${trusted.version}`;
  const candidateLabel = `version ${body.version}`;
  const tally = tallySignatures(
    candidate,
    [
      { label: trustedLabel, index: trustedIndex },
      { label: candidateLabel, index: candidateIndex },
    ],
    instant(body.issuedAt),
  );
  requireThreshold(tally.signers[0], trusted.threshold, `${candidateLabel} by ${trustedLabel}`, tally);
  requireThreshold(tally.signers[1], body.threshold, `${candidateLabel} by its own members`, tally);
  return body;
}

function claimedVersion(signed: SignedManifest): string {
  try {
    return String(decodeManifest(signed).version);
  } catch {
    return '?';
  }
}

/**
 * Applies `chain` in order from `trusted` (each must be accepted by acceptNextManifest from the one
 * before) and returns the newest body; `trusted` itself if the chain is empty. A failure keeps the
 * code of the underlying error and names the chain position and version in its message.
 */
export function acceptManifestChain(trusted: ManifestBody, chain: readonly SignedManifest[]): ManifestBody {
  let current = trusted;
  chain.forEach((candidate, i) => {
    try {
      current = acceptNextManifest(current, candidate);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      throw new RegistryError(e.code, `chain[${i}] (version ${claimedVersion(candidate)}): ${e.message}`, {
        cause: e,
        details: e.details,
      });
    }
  });
  return current;
}
