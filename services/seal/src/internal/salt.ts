import { randomFillSync } from 'node:crypto';

const SALT_BYTES = 16;
const POOL_SALTS = 512;

/**
 * 128-bit salts from the CSPRNG, drawn from a pooled buffer: one randomFillSync per 512 salts instead of
 * one per disclosure (a single randomBytes(16) costs as much as several hashes).
 */
export class SaltPool {
  private readonly pool = Buffer.allocUnsafe(SALT_BYTES * POOL_SALTS);
  private offset = this.pool.length;

  next(): string {
    return this.bytes(SALT_BYTES).toString('base64url');
  }

  /** Fresh random bytes (n ≤ 8192). */
  bytes(n: number): Buffer {
    if (this.offset + n > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const out = Buffer.from(this.pool.subarray(this.offset, this.offset + n));
    this.pool.fill(0, this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}
