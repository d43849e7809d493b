import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from 'pino';

import type { AgreementsSnapshot, AgreementsSource } from './agreements-watcher.js';
import { writeFileAtomic } from './atomic-file.js';
import type { GatewayConfig } from './config.js';
import type { ManifestSource } from './manifest-watcher.js';
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

async function loadOrCreate(file: string): Promise<NkeyIdentity> {
  if (existsSync(file)) return nkeyFromSeed(await readFile(file, 'utf8'));
  const id = newUserNkey();
  await writeFileAtomic(file, `${id.seed}\n`);
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
  /**
   * `prune: false` keeps the nkey files of recipients not listed (while the agreements cannot be read);
   * `standby`: partners whose accounts are declared without a user (see renderAccessConfig).
   */
  options: { readonly prune?: boolean; readonly standby?: readonly string[] } = {},
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
    ...(options.standby === undefined ? {} : { standby: options.standby }),
    ...(tls === undefined ? {} : { tls }),
  });
  await writeFileAtomic(configFile, text, { mode: 0o644 });
  return { configFile, gatewayNkeyFile: join(dir, GATEWAY_NKEY_FILE), recipientNkeyFiles: files };
}

/**
 * Where a gateway keeps its NATS access files: the configured directory; with the embedded server, by
 * default `<data>/nats-access`; none for a partner's own NATS when none is configured.
 */
export function natsAccessDir(config: Pick<GatewayConfig, 'nats' | 'access' | 'data'>): string | undefined {
  return config.nats.url === undefined ? (config.access ?? join(config.data, 'nats-access')) : config.access;
}

/** What one write produced: the files, and the text of the configuration. */
export interface AccessWrite {
  readonly files: AccessFiles;
  readonly text: string;
}

/**
 * A gateway's NATS access files, brought in step with each agreements snapshot: one nkey user per
 * recipient with an agreement in force (writeAccessFiles). While the agreements cannot be read (a
 * snapshot with a `problem`), the users last written stay and no recipient's credentials are removed.
 */
export class NatsAccessWriter {
  /** The recipients last written. */
  private applied: readonly string[] = [];
  private last: AccessWrite | undefined;

  constructor(
    readonly dir: string,
    /** Every partner that may become a recipient (the manifest's other members). */
    private standby: readonly string[] = [],
  ) {}

  async write(snapshot: AgreementsSnapshot): Promise<AccessWrite> {
    const paused = snapshot.problem !== undefined;
    if (paused && this.last !== undefined) return this.last;
    const recipients = paused ? this.applied : snapshot.policy.recipients(new Date()).map((r) => r.recipient);
    const files = await writeAccessFiles(this.dir, recipients, undefined, {
      prune: !paused,
      standby: this.standby,
    });
    this.applied = recipients;
    this.last = { files, text: await readFile(files.configFile, 'utf8') };
    return this.last;
  }

  /**
   * Writes the files for every later snapshot of `source`; `server` (the embedded nats-server, started
   * with the text of the last write) reloads when its users changed. With `members`, also for every newer
   * manifest: each of its other members gets a standby account (see renderAccessConfig). nats-server does
   * not wire the imports of an account that a reload adds: the embedded server restarts on its port for
   * it (EmbeddedNats.reload); a partner's own NATS must be restarted, which is logged
   * (NATS_RESTART_NEEDED) with the new members. Disposing stops following.
   */
  follow(
    source: AgreementsSource,
    server: { reload(config: string): Promise<void> } | undefined,
    members?: { readonly manifests: ManifestSource; readonly partner: string; readonly log: Logger },
  ): Disposable {
    let loaded = this.last?.text;
    /** The accounts the running nats-server was started with (only those have working imports). */
    const started = new Set(this.standby);
    const apply = async (snapshot: AgreementsSnapshot): Promise<void> => {
      const { text } = await this.write(snapshot);
      if (server === undefined || text === loaded) return;
      await server.reload(text);
      loaded = text;
    };
    const agreements = source.subscribe(apply);
    const manifests = members?.manifests.subscribe(async ({ body }) => {
      const others = body.members.map((m) => m.id).filter((id) => id !== members.partner);
      if (others.join() === this.standby.join()) return;
      this.standby = others;
      this.last = undefined;
      await apply(source.current);
      const added = others.filter((id) => !started.has(id));
      if (added.length === 0) return;
      if (server === undefined) {
        members.log.warn(
          { code: 'NATS_RESTART_NEEDED', members: added, version: body.version, dir: this.dir },
          "new members: their NATS accounts are in the access files; restart the partner's nats-server " +
            '(a reload does not wire their imports) before an agreement shares with them',
        );
      } else {
        for (const id of added) started.add(id);
        members.log.info({ members: added, version: body.version }, "new members' NATS accounts declared");
      }
    });
    return {
      [Symbol.dispose]: () => {
        agreements[Symbol.dispose]();
        manifests?.[Symbol.dispose]();
      },
    };
  }
}
