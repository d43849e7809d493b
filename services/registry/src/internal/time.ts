import { parseTimestamp } from '@wbx/schema';

import type { SigningKey } from '../body.js';
import { RegistryError } from '../errors.js';

/** Milliseconds since the epoch of an RFC 3339 UTC timestamp; throws INVALID_ARGUMENT if malformed. */
export function instant(timestamp: string): number {
  const t = parseTimestamp(timestamp);
  if (t === undefined) {
    throw new RegistryError('INVALID_ARGUMENT', `not an RFC 3339 UTC timestamp: ${timestamp}`);
  }
  return t;
}

/** A Date or RFC 3339 UTC string as an RFC 3339 UTC string; throws INVALID_ARGUMENT if neither. */
export function toTimestamp(value: Date | string, what: string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RegistryError('INVALID_ARGUMENT', `${what}: invalid date`);
    return value.toISOString();
  }
  if (parseTimestamp(value) === undefined) {
    throw new RegistryError('INVALID_ARGUMENT', `${what}: not an RFC 3339 UTC timestamp: ${value}`);
  }
  return value;
}

/** A key's validity window in epoch milliseconds (parsed once, checked often). */
export interface KeyWindow {
  readonly notBefore: number;
  readonly notAfter: number;
  readonly revokedAt: number;
}

export function keyWindow(key: SigningKey): KeyWindow {
  return {
    notBefore: instant(key.notBefore),
    notAfter: key.notAfter === undefined ? Infinity : instant(key.notAfter),
    revokedAt: key.revokedAt === undefined ? Infinity : instant(key.revokedAt),
  };
}

export type KeyStatus = 'VALID' | 'KEY_NOT_YET_VALID' | 'KEY_EXPIRED' | 'KEY_REVOKED';

/** Whether a key may be used at `at` (ms): notBefore ≤ at < notAfter and at < revokedAt. */
export function keyStatusAt(window: KeyWindow, at: number): KeyStatus {
  if (at >= window.revokedAt) return 'KEY_REVOKED';
  if (at < window.notBefore) return 'KEY_NOT_YET_VALID';
  if (at >= window.notAfter) return 'KEY_EXPIRED';
  return 'VALID';
}

/** Whether a key can still sign at some instant ≥ `at` (neither revoked nor expired by then). */
export function keyUsableFrom(window: KeyWindow, at: number): boolean {
  return at < window.revokedAt && at < window.notAfter;
}
