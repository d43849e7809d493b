import { randomFillSync } from 'node:crypto';

/** 144-bit salts: 18 bytes encode to exactly 24 base64url characters, so a pool slices without re-encoding. */
const SALT_BYTES = 18;
const SALT_CHARS = 24;
const POOL_SALTS = 1024;
/**
 * Decoys: 32 random bytes followed by a zero byte. 33 bytes encode to 44 characters; with the zero byte
 * the first 43 are exactly the base64url of the 32 random bytes (the 43rd character's two low bits come
 * from the zero byte, as from the padding of a real 32-byte digest), and the 44th is dropped.
 */
const DECOY_BYTES = 33;
const DECOY_CHARS = 44;
const DIGEST_CHARS = 43;
const POOL_DECOYS = 512;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Salts (≥ 128 bits, RFC 9901 §9.3) and decoy digests from the CSPRNG, drawn from pooled buffers: one
 * randomFillSync and one base64url encoding per pool instead of one of each per disclosure, which cost
 * as much as the hashing. Each salt and each decoy is handed out once.
 */
export class SaltPool {
  private readonly bytes = Buffer.allocUnsafe(SALT_BYTES * POOL_SALTS);
  private pool = '';
  private offset = 0;
  private readonly decoyBytes = Buffer.allocUnsafe(DECOY_BYTES * POOL_DECOYS);
  private decoys = '';
  private decoyOffset = 0;

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

  /**
   * A decoy digest: 256 random bits, base64url-encoded like a SHA-256 digest and indistinguishable from
   * one (RFC 9901 §4.2.5 allows random decoys; hashing a random salt adds nothing but cost).
   */
  decoy(): string {
    if (this.decoyOffset >= this.decoys.length) {
      randomFillSync(this.decoyBytes);
      for (let i = DECOY_BYTES - 1; i < this.decoyBytes.length; i += DECOY_BYTES) this.decoyBytes[i] = 0;
      this.decoys = this.decoyBytes.toString('base64url');
      this.decoyOffset = 0;
    }
    const decoy = this.decoys.slice(this.decoyOffset, this.decoyOffset + DIGEST_CHARS);
    this.decoyOffset += DECOY_CHARS;
    return decoy;
  }
}
