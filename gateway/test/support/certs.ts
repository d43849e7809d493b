import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CERT_EXTENSIONS, certPin, openssl } from '../../src/cli/demo-pki.js';

/** A certificate and its private key, as PEM file paths. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** The PEM contents of a {@link CertFiles}, for `credentials.createSsl`. */
export interface CertPem {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * A throw-away PKI made with the `openssl` CLI (ECDSA P-256): CA A with a server certificate for
 * 127.0.0.1/localhost, a valid client certificate (CN=RS) and an expired one; CA B with a client
 * certificate of its own. Removed on dispose.
 */
export interface TestPki extends AsyncDisposable {
  readonly dir: string;
  /** CA A's certificate (PEM file): it signed the server and the `client`/`expiredClient` certificates. */
  readonly caA: string;
  /** CA B's certificate (PEM file): an unrelated CA that signed only `foreignClient`. */
  readonly caB: string;
  /** Server certificate, SAN IP:127.0.0.1 and DNS:localhost, signed by A. */
  readonly server: CertFiles;
  /** Client certificate CN=RS, signed by A, valid now. */
  readonly client: CertFiles;
  /** Client certificate CN=RS, signed by A, valid only on 1 January 2020. */
  readonly expiredClient: CertFiles;
  /** Client certificate CN=RS, signed by B. */
  readonly foreignClient: CertFiles;
  /** Reads a certificate's and key's PEM. */
  pem(files: CertFiles): Promise<CertPem>;
  /** Issues another client certificate signed by A, with common name `cn`. */
  issueClient(cn: string): Promise<CertFiles>;
}

/** SHA-256 of a PEM certificate's DER, lowercase hex: the manifest's tlsCertSha256 form. */
export async function certSha256(certFile: string): Promise<string> {
  return certPin(await readFile(certFile));
}

/** `openssl ca` configuration: used only for the expired certificate, whose dates lie in the past. */
const caConfig = (dbDir: string): string => `
[ ca ]
default_ca = test_ca

[ test_ca ]
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

/** Creates the test PKI in a fresh temp dir. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'wbx-pki-'));
  try {
    const ext = join(dir, 'extensions.cnf');
    await writeFile(ext, CERT_EXTENSIONS);
    const key = async (name: string): Promise<string> => {
      await openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]); // prettier-ignore
      return join(dir, `${name}.key`);
    };
    const ca = async (name: string, cn: string): Promise<CertFiles> => {
      const k = await key(name);
      await openssl(dir, [
        'req', '-x509', '-new', '-key', k, '-subj', `/CN=${cn}`, '-days', '7', '-sha256', '-out', `${name}.pem`,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]); // prettier-ignore
      return { cert: join(dir, `${name}.pem`), key: k };
    };
    const csr = async (name: string, cn: string): Promise<string> => {
      await openssl(dir, [
        'req',
        '-new',
        '-key',
        await key(name),
        '-subj',
        `/CN=${cn}`,
        '-out',
        `${name}.csr`,
      ]);
      return join(dir, `${name}.csr`);
    };
    const issue = async (
      name: string,
      cn: string,
      issuer: CertFiles,
      profile: string,
    ): Promise<CertFiles> => {
      const request = await csr(name, cn);
      await openssl(dir, [
        'x509', '-req', '-in', request, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', `0x${serial()}`,
        '-days', '7', '-sha256', '-extfile', ext, '-extensions', profile, '-out', `${name}.pem`,
      ]); // prettier-ignore
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    };

    const a = await ca('ca-a', 'WBX Test CA A');
    const b = await ca('ca-b', 'WBX Test CA B');
    const server = await issue('server', 'localhost', a, 'server');
    const client = await issue('client', 'RS', a, 'client');
    const foreignClient = await issue('foreign-client', 'RS', b, 'client');

    // OpenSSL 3.0's `x509 -req` has no -not_before/-not_after (3.4+); `openssl ca` takes explicit dates.
    const db = join(dir, 'ca-db');
    await mkdir(db);
    await writeFile(join(db, 'index.txt'), '');
    await writeFile(join(db, 'serial'), `${serial()}\n`);
    await writeFile(join(dir, 'ca.cnf'), caConfig(db));
    const expiredCsr = await csr('expired-client', 'RS');
    await openssl(dir, [
      'ca', '-batch', '-config', join(dir, 'ca.cnf'), '-cert', a.cert, '-keyfile', a.key, '-in', expiredCsr,
      '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extensions', 'client', '-notext',
      '-out', 'expired-client.pem',
    ]); // prettier-ignore
    const expiredClient = { cert: join(dir, 'expired-client.pem'), key: join(dir, 'expired-client.key') };

    return {
      dir,
      caA: a.cert,
      caB: b.cert,
      server,
      client,
      expiredClient,
      foreignClient,
      issueClient: (cn) => issue(`client-${cn}-${serial()}`, cn, a, 'client'),
      async pem(files) {
        const [cert, k] = await Promise.all([readFile(files.cert), readFile(files.key)]);
        return { cert, key: k };
      },
      async [Symbol.asyncDispose]() {
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** A random positive 64-bit serial number in hex (even length, high bit clear). */
function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return Buffer.from(bytes).toString('hex');
}
