import { holdToken } from './holder.js';

export { isAllowed } from './holder.js';

/**
 * Derives a presentation that keeps only the allowed disclosures of a sealed event (or of a presentation
 * of it); the issuer JWT and the kept disclosures are passed on byte for byte, nothing is re-signed.
 * The signature is not checked here: disclosure is the holder's step, verification the receiver's. To
 * present one token to several recipients, parse it once with `holdToken`.
 */
export function disclose(token: string, allowedPaths: Iterable<string>, maxBytes?: number): string {
  return holdToken(token, maxBytes).present(allowedPaths);
}
