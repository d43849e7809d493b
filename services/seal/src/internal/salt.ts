import { hash, randomFillSync } from 'node:crypto';

/** 144-bit salts: 18 bytes encode to exactly 24 base64url characters, so a pool slices without re-encoding. */
const SALT_BYTES = 18;
const SALT_CHARS = 24;
const POOL_SALTS = 1024;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Salts (≥ 128 bits, RFC 9901 §9.3) from the CSPRNG, drawn from a pooled buffer: one randomFillSync and
 * one base64url encoding per 1,024 salts instead of one of each per disclosure, which cost as much as
 * the hashing. Each salt is handed out once.
 */
export class SaltPool {
  private readonly bytes = Buffer.allocUnsafe(SALT_BYTES * POOL_SALTS);
  private pool = '';
  private offset = 0;

  next(): string {
    if (this.offset >= this.pool.length) {
      randomFillSync(this.bytes);
      this.pool = this.bytes.toString('base64url');
      this.offset = 0;
    }
    const salt = this.pool.slice(this.offset, this.offset + SALT_CHARS);
    this.offset += SALT_CHARS;
    return salt;
  }

  /** A uniformly random integer in [0, n) for n a power of two up to 64. */
  small(n: 1 | 2 | 4 | 8 | 16 | 32 | 64): number {
    return B64URL.indexOf(this.next().charAt(0)) % n;
  }

  /** A decoy digest: the SHA-256 of a fresh salt, indistinguishable from a real disclosure digest. */
  decoy(): string {
    return hash('sha256', this.next(), 'base64url');
  }
}
