import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { openssl } from './openssl.js';
import { certPin } from './pin.js';

/** A certificate and its private key, as PEM file paths. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** A certificate and key (PEM files) and the certificate's SHA-256 pin (lowercase hex). */
export interface IssuedCert extends CertFiles {
  readonly sha256: string;
}

/**
 * `server`: TLS server, SAN IP:127.0.0.1 and DNS:localhost; `client`: TLS client; `peer`: both (a
 * nats-server route presents one certificate as server and as client).
 */
export type CertProfile = 'server' | 'client' | 'peer';

/** For how many days from now a certificate is valid, or an explicit window (e.g. one long past). */
export type Validity = { readonly days: number } | { readonly notBefore: Date; readonly notAfter: Date };

/** The X.509 extensions of WBX's server and client certificates, as `openssl -extfile` sections. */
const CERT_EXTENSIONS = `[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[peer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
`;

const EXTENSIONS_FILE = 'extensions.cnf';

/** `openssl ca` configuration, for certificates with explicit dates (`x509 -req` has none before 3.4). */
const caConfig = (dbDir: string): string => `
[ ca ]
default_ca = wbx_ca

[ wbx_ca ]
database = ${dbDir}/index.txt
new_certs_dir = ${dbDir}
serial = ${dbDir}/serial
default_md = sha256
policy = any_dn
unique_subject = no
copy_extensions = none

[ any_dn ]
commonName = supplied
${CERT_EXTENSIONS}`;

/** A random positive 64-bit serial number in hex (even length, high bit clear). */
function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10;
  return Buffer.from(bytes).toString('hex');
}

/** `openssl` date form, `YYYYMMDDHHMMSSZ`. */
const opensslDate = (d: Date): string => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/**
 * A throw-away certificate authority made with the `openssl` CLI (ECDSA P-256, SHA-256), its files in
 * `dir` named after what they are (`<name>.key`, `<name>.pem`); several may share a directory.
 */
export class CertificateAuthority implements CertFiles {
  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly cert: string,
    readonly key: string,
  ) {}

  /** A new self-signed CA certificate `<name>.pem` with common name `cn`, valid for `days` from now. */
  static async create(dir: string, name: string, cn: string, days: number): Promise<CertificateAuthority> {
    await writeFile(join(dir, EXTENSIONS_FILE), CERT_EXTENSIONS);
    const key = await newKey(dir, name);
    await openssl(dir, [
      ...['req', '-x509', '-new', '-key', key, '-subj', `/CN=${cn}`, '-days', String(days), '-sha256'],
      ...['-out', `${name}.pem`, '-addext', 'basicConstraints=critical,CA:TRUE'],
      ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ]);
    return new CertificateAuthority(dir, name, join(dir, `${name}.pem`), key);
  }

  /** A new key and a certificate `<name>.pem` for it, with common name `cn`, signed by this CA. */
  async issue(name: string, cn: string, profile: CertProfile, validity: Validity): Promise<IssuedCert> {
    const { dir } = this;
    const key = await newKey(dir, name);
    const csr = `${name}.csr`;
    await openssl(dir, ['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr]);
    const out = ['-extensions', profile, '-out', `${name}.pem`];
    if ('days' in validity) {
      await openssl(dir, [
        ...['x509', '-req', '-in', csr, '-CA', this.cert, '-CAkey', this.key, '-set_serial', `0x${serial()}`],
        ...['-days', String(validity.days), '-sha256', '-extfile', EXTENSIONS_FILE, ...out],
      ]);
    } else {
      const config = await this.caConfig();
      await openssl(dir, [
        ...['ca', '-batch', '-config', config, '-cert', this.cert, '-keyfile', this.key, '-in', csr],
        ...['-startdate', opensslDate(validity.notBefore), '-enddate', opensslDate(validity.notAfter)],
        ...['-notext', ...out],
      ]);
    }
    const cert = join(dir, `${name}.pem`);
    return { cert, key, sha256: certPin(await readFile(cert)) };
  }

  /** The `openssl ca` configuration and database of this CA, made on first use. */
  private async caConfig(): Promise<string> {
    const db = join(this.dir, `${this.name}-db`);
    const file = join(this.dir, `${this.name}-ca.cnf`);
    await mkdir(db, { recursive: true });
    await writeFile(join(db, 'index.txt'), '', { flag: 'a' });
    await writeFile(join(db, 'serial'), `${serial()}\n`);
    await writeFile(file, caConfig(db));
    return file;
  }
}

async function newKey(dir: string, name: string): Promise<string> {
  await openssl(dir, [
    ...['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`],
  ]);
  return join(dir, `${name}.key`);
}
