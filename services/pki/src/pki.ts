import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and key (PEM files) and the certificate's SHA-256 pin (lowercase hex). */
export interface DemoCert {
  readonly cert: string;
  readonly key: string;
  readonly sha256: string;
}

/** The demo's throw-away PKI: one CA, a server certificate for 127.0.0.1, a client certificate per partner. */
export interface DemoPki {
  readonly ca: string;
  readonly server: DemoCert;
  readonly clients: ReadonlyMap<string, DemoCert>;
}

/** The X.509 extensions of WBX's server and client certificates, as `openssl -extfile` sections. */
export const CERT_EXTENSIONS = `[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

/** Runs the `openssl` CLI in `cwd`; a failure says which subcommand and what openssl printed. */
export async function openssl(cwd: string, args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? (e as Error).message;
    throw new Error(`openssl ${args[0] ?? ''} failed (is openssl installed? scripts/setup.sh installs it): ${stderr.trim()}`, { cause: e });
  }
} // prettier-ignore

/** SHA-256 of a PEM certificate's DER, lowercase hex: the manifest's `tlsCertSha256` form. */
export function certPin(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** Makes the PKI under `dir` with the `openssl` CLI (ECDSA P-256, valid 2 days). */
export async function makeDemoPki(dir: string, partners: readonly string[]): Promise<DemoPki> {
  await writeFile(join(dir, 'ext.cnf'), CERT_EXTENSIONS);
  const key = (name: string) => openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]); // prettier-ignore
  await key('ca');
  await openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=WBX demo CA', '-days', '2', '-sha256', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']); // prettier-ignore
  let serial = 1;
  const issue = async (name: string, cn: string, profile: string): Promise<DemoCert> => {
    await key(name);
    await openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
    serial += 1;
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial), '-days', '2', '-sha256', '-extfile', 'ext.cnf', '-extensions', profile, '-out', `${name}.pem`]); // prettier-ignore
    const pem = await readFile(join(dir, `${name}.pem`));
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`), sha256: certPin(pem) };
  };
  const server = await issue('server', 'localhost', 'server');
  const clients = new Map<string, DemoCert>();
  for (const p of partners) clients.set(p, await issue(`client-${p}`, p, 'client'));
  return { ca: join(dir, 'ca.pem'), server, clients };
}
