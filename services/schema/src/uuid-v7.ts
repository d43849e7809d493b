/** 10 bytes from the CSPRNG as 19 hex digits: the 74 random bits of a UUIDv7, and two to spare. */
function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex.slice(0, 19);
}

/**
 * A UUIDv7 (RFC 9562 §5.7), lowercase: `ms` as the 48-bit Unix millisecond timestamp, version 7, then 74
 * bits from `random`, 19 hex digits — three for rand_a, one whose two low bits follow the variant bits
 * (10), fifteen for the rest of rand_b. By default they come from the CSPRNG; a caller that must make the
 * same id again (a seeded generator, a hash of what the id names) passes its own.
 */
export function uuidV7(ms: number, random: string = randomHex()): string {
  const ts = Math.floor(ms).toString(16).padStart(12, '0').slice(-12);
  const variant = (0x8 | (Number.parseInt(random.charAt(3), 16) & 0x3)).toString(16);
  const randB = `${variant}${random.slice(4, 7)}-${random.slice(7, 19)}`;
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${random.slice(0, 3)}-${randB}`;
}
