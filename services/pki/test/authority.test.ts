import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CertificateAuthority, certPin, makeDemoPki } from '../src/index.js';

let dir: string;
const x509 = async (file: string): Promise<X509Certificate> => new X509Certificate(await readFile(file));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-pki-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CertificateAuthority', () => {
  it('issues server and client certificates that its certificate verifies, with their pins', async () => {
    const ca = await CertificateAuthority.create(dir, 'ca-one', 'Test CA One', 1);
    const other = await CertificateAuthority.create(dir, 'ca-two', 'Test CA Two', 1);
    const caCert = await x509(ca.cert);
    expect(caCert.ca).toBe(true);
    const server = await ca.issue('srv', 'localhost', 'server', { days: 1 });
    const serverCert = await x509(server.cert);
    expect(serverCert.verify(caCert.publicKey)).toBe(true);
    expect(serverCert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(serverCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const client = await other.issue('cli', 'RS', 'client', { days: 1 });
    const clientCert = await x509(client.cert);
    expect(clientCert.subject).toBe('CN=RS');
    expect(clientCert.verify(caCert.publicKey)).toBe(false);
    expect(clientCert.verify((await x509(other.cert)).publicKey)).toBe(true);
    expect(clientCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(client.sha256).toBe(certPin(await readFile(client.cert)));
    expect(client.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('issues a certificate for an explicit window, e.g. one long expired', async () => {
    const ca = await CertificateAuthority.create(dir, 'ca-three', 'Test CA Three', 1);
    const window = {
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2020-01-02T00:00:00Z'),
    };
    const old = await x509((await ca.issue('old', 'RS', 'client', window)).cert);
    expect(new Date(old.validFrom).toISOString()).toBe('2020-01-01T00:00:00.000Z');
    expect(new Date(old.validTo).toISOString()).toBe('2020-01-02T00:00:00.000Z');
    expect(old.verify((await x509(ca.cert)).publicKey)).toBe(true);
  });
});

describe('makeDemoPki', () => {
  it('makes a CA, a server certificate and one client certificate per partner', async () => {
    const demo = join(dir, 'demo');
    await mkdir(demo);
    const pki = await makeDemoPki(demo, ['MK', 'RS']);
    const ca = await x509(pki.ca);
    expect([...pki.clients.keys()]).toEqual(['MK', 'RS']);
    for (const c of [pki.server, ...pki.clients.values()]) {
      expect((await x509(c.cert)).verify(ca.publicKey)).toBe(true);
    }
    expect((await x509(pki.clients.get('MK')?.cert ?? '')).subject).toBe('CN=MK');
  });
});
