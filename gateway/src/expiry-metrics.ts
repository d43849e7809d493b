import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import type { GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * Sets when the gateway's TLS certificates (Ingest `grpc`, partners' `exchange`) and this partner's
 * signing keys in the trusted manifest stop being valid, as Unix seconds: the WbxCertificateExpiresSoon
 * and WbxSigningKeyExpiresSoon alerts compare them with the time. Certificates are read at start, as the
 * listeners read them; a key without notAfter or revokedAt has no series (it does not expire).
 */
export async function recordExpiries(
  config: Pick<GatewayConfig, 'partner' | 'grpc' | 'exchange'>,
  manifest: ManifestBody,
  metrics: GatewayMetrics,
  log: Logger,
): Promise<void> {
  const certs: [string, string | undefined][] = [
    ['grpc', config.grpc.tls?.cert],
    ['exchange', config.exchange?.tls.cert],
  ];
  for (const [listener, file] of certs) {
    if (file === undefined) continue;
    try {
      const cert = new X509Certificate(await readFile(file));
      metrics.certificateExpiry.set({ listener }, Date.parse(cert.validTo) / 1000);
    } catch (e) {
      log.warn({ err: e, listener }, 'cannot read the certificate to report its expiry');
    }
  }
  recordSigningKeyExpiries(config.partner, manifest, metrics);
}

/**
 * Sets when `partner`'s signing keys in `manifest` stop being valid, replacing what an earlier manifest
 * said (a newer one may end, revoke or add keys).
 */
export function recordSigningKeyExpiries(
  partner: string,
  manifest: ManifestBody,
  metrics: Pick<GatewayMetrics, 'signingKeyExpiry'>,
): void {
  metrics.signingKeyExpiry.reset();
  const member = manifest.members.find((m) => m.id === partner);
  for (const key of member?.signingKeys ?? []) {
    const ends = [key.notAfter, key.revokedAt].flatMap((t) => (t === undefined ? [] : [Date.parse(t)]));
    if (ends.length > 0) metrics.signingKeyExpiry.set({ kid: key.kid }, Math.min(...ends) / 1000);
  }
}
