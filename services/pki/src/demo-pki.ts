import { join } from 'node:path';

import { CertificateAuthority, type IssuedCert } from './authority.js';

/** A certificate and key (PEM files) and the certificate's SHA-256 pin (lowercase hex). */
export type DemoCert = IssuedCert;

/** The demo's throw-away PKI: a CA, a server certificate for 127.0.0.1, a client certificate per partner. */
export interface DemoPki {
  readonly ca: string;
  readonly server: DemoCert;
  readonly clients: ReadonlyMap<string, DemoCert>;
}

/** Makes the PKI under `dir` with the `openssl` CLI (ECDSA P-256, valid 2 days). */
export async function makeDemoPki(dir: string, partners: readonly string[]): Promise<DemoPki> {
  const validity = { days: 2 };
  const ca = await CertificateAuthority.create(dir, 'ca', 'WBX demo CA', validity.days);
  const server = await ca.issue('server', 'localhost', 'server', validity);
  const clients = new Map<string, DemoCert>();
  for (const p of partners) clients.set(p, await ca.issue(`client-${p}`, p, 'client', validity));
  return { ca: join(dir, 'ca.pem'), server, clients };
}
