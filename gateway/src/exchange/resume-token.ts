import { createCipheriv, createDecipheriv, timingSafeEqual, type Cipheriv } from 'node:crypto';

import type { Pseudonyms } from './pseudonyms.js';

/** A token is one AES block, base64url: 22 characters. */
const TOKEN_RE = /^[A-Za-z0-9_-]{22}$/;
const BLOCK = 16;

/**
 * Resume tokens that tell the caller nothing but "go on after this event". A token is one AES-256 block
 * — the cipher used as a pseudorandom permutation, enciphering exactly one block — of the WBX_EVENTS
 * sequence (8 bytes) and 8 bytes of the query's hash. Without the key the sequence cannot be read, so a
 * token does not tell how many events the origin holds or how many lie between two returned ones; and a
 * block made up or taken from another query deciphers to a random one whose last 8 bytes match this
 * query's hash with probability 2⁻⁶⁴, so a token cannot be forged to start a scan at a chosen place.
 *
 * The key is per agreement, derived from the gateway's subject-reference secret (which every replica of
 * a gateway shares, so a token works on any of them and after a restart) under a name no agreement can
 * have (agreement ids have no `/`): it is independent of every key that keys subject references.
 *
 * Enciphering is deterministic, so callers must only ever make tokens from what the caller may know:
 * Query makes them only for sequences of events it returns (and 0, "from the start").
 */
export class ResumeTokens {
  private readonly key: Buffer;
  private readonly tag: Buffer;
  private cipher: Cipheriv | undefined;

  constructor(pseudonyms: Pseudonyms, agreementId: string, queryHash: string) {
    this.key = Buffer.from(pseudonyms.keyed(`resume-token/${agreementId}`, 'wbx-resume-token/v1'), 'hex');
    this.tag = Buffer.from(queryHash, 'base64url').subarray(0, 8);
    if (this.tag.length !== 8) throw new Error('a query hash has at least 8 bytes');
  }

  /** The token for "go on after sequence `seq`". */
  seal(seq: number): string {
    const block = Buffer.alloc(BLOCK);
    block.writeBigUInt64BE(BigInt(seq), 0);
    this.tag.copy(block, 8);
    // One block at a time through one ECB context: each update is exactly one enciphered block.
    this.cipher ??= createCipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
    return this.cipher.update(block).toString('base64url');
  }

  /** The tokens for `seqs`, in order: `seal` of each, the blocks enciphered in one call. */
  sealAll(seqs: readonly number[]): string[] {
    const blocks = Buffer.alloc(BLOCK * seqs.length);
    seqs.forEach((seq, i) => {
      blocks.writeBigUInt64BE(BigInt(seq), i * BLOCK);
      this.tag.copy(blocks, i * BLOCK + 8);
    });
    this.cipher ??= createCipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
    const out = this.cipher.update(blocks);
    return seqs.map((_, i) => out.toString('base64url', i * BLOCK, (i + 1) * BLOCK));
  }

  /** The sequence a token of this query stands for; undefined for anything else. */
  open(token: string): number | undefined {
    if (!TOKEN_RE.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== BLOCK || raw.toString('base64url') !== token) return undefined;
    const decipher = createDecipheriv('aes-256-ecb', this.key, null).setAutoPadding(false);
    const block = Buffer.concat([decipher.update(raw), decipher.final()]);
    if (!timingSafeEqual(block.subarray(8), this.tag)) return undefined;
    const seq = block.readBigUInt64BE(0);
    return seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seq) : undefined;
  }
}
