import { X509Certificate } from 'node:crypto';

/** SHA-256 of a PEM certificate's DER, lowercase hex: the manifest's `tlsCertSha256` form. */
export function certPin(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}
