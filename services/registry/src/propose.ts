import type { ManifestBody, Member, SigningKey } from './body.js';
import { RegistryError } from './errors.js';
import { keyIndex } from './internal/key-index.js';
import { parseKid } from './internal/kid.js';
import { instant, keyUsableFrom, keyWindow, toTimestamp } from './internal/time.js';
import { createManifest, type SignedManifest } from './manifest.js';

/** A point in time: a Date or an RFC 3339 UTC string. */
export type Instant = Date | string;

/**
 * The next version: version + 1, issued at `issuedAt`, unsigned. Checks the body (MALFORMED_MANIFEST),
 * that it is not issued before `body` (ISSUED_AT_ROLLBACK), and that the threshold is an integer no
 * larger than the number of members that still have a usable key (THRESHOLD_INVALID), so a proposal
 * cannot leave the federation unable to sign its successor.
 */
function propose(
  body: ManifestBody,
  issuedAt: Instant,
  members: readonly Member[],
  threshold = body.threshold,
): SignedManifest {
  const at = toTimestamp(issuedAt, 'issuedAt');
  if (instant(at) < instant(body.issuedAt)) {
    throw new RegistryError('ISSUED_AT_ROLLBACK', `issuedAt ${at} is before version ${body.version}'s`);
  }
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > members.length) {
    throw new RegistryError(
      'THRESHOLD_INVALID',
      `threshold ${threshold} must be an integer from 1 to the number of members (${members.length})`,
    );
  }
  const signed = createManifest({ version: body.version + 1, threshold, issuedAt: at, members });
  const t = instant(at);
  const able = members.filter((m) => m.signingKeys.some((k) => keyUsableFrom(keyWindow(k), t)));
  if (able.length < threshold) {
    throw new RegistryError(
      'THRESHOLD_INVALID',
      `threshold ${threshold} exceeds the ${able.length} members that still have a usable key`,
    );
  }
  return signed;
}

function memberOf(body: ManifestBody, memberId: string): Member {
  const member = body.members.find((m) => m.id === memberId);
  if (member === undefined) throw new RegistryError('NOT_A_MEMBER', `${memberId} is not a member`);
  return member;
}

function replaceMember(body: ManifestBody, member: Member): Member[] {
  return body.members.map((m) => (m.id === member.id ? member : m));
}

/** Proposes the next version with `member` added. Throws ALREADY_A_MEMBER, MALFORMED_MANIFEST, … */
export function addMember(body: ManifestBody, member: Member, issuedAt: Instant): SignedManifest {
  if (body.members.some((m) => m.id === member.id)) {
    throw new RegistryError('ALREADY_A_MEMBER', `${member.id} is already a member`);
  }
  return propose(body, issuedAt, [...body.members, member]);
}

/** Proposes the next version without `memberId`. Throws NOT_A_MEMBER, THRESHOLD_INVALID, … */
export function removeMember(body: ManifestBody, memberId: string, issuedAt: Instant): SignedManifest {
  memberOf(body, memberId);
  return propose(
    body,
    issuedAt,
    body.members.filter((m) => m.id !== memberId),
  );
}

/**
 * Proposes the next version with `newKey` added to `memberId`'s keys. With `retireOldAt`, the member's
 * keys still usable at `issuedAt` get `notAfter = retireOldAt` (never later than they already had).
 */
export function rotateKey(
  body: ManifestBody,
  memberId: string,
  newKey: SigningKey,
  issuedAt: Instant,
  options: { retireOldAt?: Instant } = {},
): SignedManifest {
  const member = memberOf(body, memberId);
  if (parseKid(newKey.kid)?.memberId !== memberId) {
    throw new RegistryError('KEY_MISMATCH', `kid ${newKey.kid} does not belong to ${memberId}`);
  }
  let keys = member.signingKeys;
  if (options.retireOldAt !== undefined) {
    const retire = toTimestamp(options.retireOldAt, 'retireOldAt');
    const retireMs = instant(retire);
    const t = instant(toTimestamp(issuedAt, 'issuedAt'));
    keys = keys.map((k) => {
      const w = keyWindow(k);
      return keyUsableFrom(w, t) && w.notAfter > retireMs ? { ...k, notAfter: retire } : k;
    });
  }
  return propose(body, issuedAt, replaceMember(body, { ...member, signingKeys: [...keys, newKey] }));
}

/**
 * Proposes the next version with key `kid` of `memberId` revoked from `revokedAt` on. Throws
 * NOT_A_MEMBER, UNKNOWN_KEY, KEY_MISMATCH (the kid is another member's), KEY_REVOKED (already revoked at
 * or before `revokedAt`), THRESHOLD_INVALID (too few members could still sign), …
 */
export function revokeKey(
  body: ManifestBody,
  memberId: string,
  kid: string,
  revokedAt: Instant,
  issuedAt: Instant,
): SignedManifest {
  const member = memberOf(body, memberId);
  const owner = keyIndex(body).keys.get(kid)?.memberId;
  if (owner === undefined) throw new RegistryError('UNKNOWN_KEY', `${kid} is not in the manifest`);
  if (owner !== memberId) throw new RegistryError('KEY_MISMATCH', `${kid} is not a key of ${memberId}`);
  const at = toTimestamp(revokedAt, 'revokedAt');
  const keys = member.signingKeys.map((k) => {
    if (k.kid !== kid) return k;
    if (k.revokedAt !== undefined && instant(k.revokedAt) <= instant(at)) {
      throw new RegistryError('KEY_REVOKED', `${kid} is already revoked at ${k.revokedAt}`);
    }
    return { ...k, revokedAt: at };
  });
  return propose(body, issuedAt, replaceMember(body, { ...member, signingKeys: keys }));
}

/**
 * Proposes the next version in which `memberId`'s Exchange client certificates are pinned by `sha256s`
 * (SHA-256 of each DER certificate, lowercase hex), replacing its pins. Throws NOT_A_MEMBER,
 * MALFORMED_MANIFEST (a pin that is not 64 lowercase hex characters, or one given twice), …
 */
export function setTlsPins(
  body: ManifestBody,
  memberId: string,
  sha256s: readonly string[],
  issuedAt: Instant,
): SignedManifest {
  const member = memberOf(body, memberId);
  return propose(body, issuedAt, replaceMember(body, { ...member, tlsCertSha256: [...sha256s] }));
}

/** Proposes the next version with threshold `k`. Throws THRESHOLD_INVALID, … */
export function setThreshold(body: ManifestBody, k: number, issuedAt: Instant): SignedManifest {
  return propose(body, issuedAt, body.members, k);
}
