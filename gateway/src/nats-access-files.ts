import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { newUserNkey, nkeyFromSeed, renderAccessConfig, type NkeyIdentity } from './nats-access.js';

export const ACCESS_CONFIG_FILE = 'nats-access.conf';
export const GATEWAY_NKEY_FILE = 'gateway.nkey';

export interface AccessFiles {
  /** The authorization (and TLS) configuration, to include in the partner's nats-server config. */
  readonly configFile: string;
  /** The gateway's own nkey seed. */
  readonly gatewayNkeyFile: string;
  /** Per recipient: the nkey seed file to hand over. */
  readonly recipientNkeyFiles: ReadonlyMap<string, string>;
}

async function writeSecret(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

async function loadOrCreate(file: string): Promise<NkeyIdentity> {
  if (existsSync(file)) return nkeyFromSeed(await readFile(file, 'utf8'));
  const id = newUserNkey();
  await writeSecret(file, `${id.seed}\n`);
  return id;
}

/**
 * Writes (or brings up to date) a partner's NATS access: one nkey per recipient with an active agreement
 * and the gateway's own, kept across runs so that credentials handed over stay valid; the nkey file of a
 * recipient that has no active agreement any more is deleted, and its user leaves the configuration.
 */
export async function writeAccessFiles(
  dir: string,
  recipients: readonly string[],
  tls?: { readonly cert: string; readonly key: string },
  /** `prune: false` keeps the nkey files of recipients not listed (while the agreements cannot be read). */
  options: { readonly prune?: boolean } = {},
): Promise<AccessFiles> {
  await mkdir(dir, { recursive: true });
  const gateway = await loadOrCreate(join(dir, GATEWAY_NKEY_FILE));
  const files = new Map<string, string>();
  const users: { id: string; publicKey: string }[] = [];
  for (const r of [...new Set(recipients)].sort()) {
    const file = join(dir, `${r}.nkey`);
    users.push({ id: r, publicKey: (await loadOrCreate(file)).publicKey });
    files.set(r, file);
  }
  for (const f of await readdir(dir)) {
    if (options.prune === false) break;
    if (f.endsWith('.nkey') && f !== GATEWAY_NKEY_FILE && !files.has(f.slice(0, -'.nkey'.length))) {
      await rm(join(dir, f), { force: true });
    }
  }
  const configFile = join(dir, ACCESS_CONFIG_FILE);
  const text = renderAccessConfig({
    gateway: gateway.publicKey,
    recipients: users,
    ...(tls === undefined ? {} : { tls }),
  });
  const tmp = `${configFile}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, configFile);
  return { configFile, gatewayNkeyFile: join(dir, GATEWAY_NKEY_FILE), recipientNkeyFiles: files };
}
