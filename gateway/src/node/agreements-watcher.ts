import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';

import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import {
  directoryFingerprint,
  loadAgreements,
  sharePolicy,
  type InactiveAgreement,
  type LoadedAgreement,
} from './agreement-policy.js';
import type { GatewayConfig } from './config.js';
import type { EmbeddedNats } from './embedded-nats.js';
import { writeAccessFiles } from './nats-access-files.js';
import { DENY_ALL, type SharePolicy } from './share-policy.js';

/** Keeps the share policy, the recipients' streams and the NATS users in step with the agreements. */
export class AgreementsWatcher {
  policy: SharePolicy = DENY_ALL;
  agreements: LoadedAgreement[] = [];
  /** Agreements naming this partner that are not active (expired, revoked, one signature, …). */
  inactive: InactiveAgreement[] = [];
  embedded: EmbeddedNats | undefined;
  private fingerprint = '';
  private lastLoad = 0;
  private signature = '';
  private accessText = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private watcher: FSWatcher | undefined;

  constructor(
    private readonly config: GatewayConfig,
    private readonly manifest: ManifestBody,
    private readonly log: Logger,
    /** Where the NATS access files are kept up to date, if this gateway manages them. */
    readonly accessDir: string | undefined,
  ) {}

  /**
   * Loads the agreements when the directory changed (and every 5 s, for validity windows that open or
   * close) and brings the NATS access files up to date; the embedded server reloads when its users
   * changed. Resolves to whether the set of active agreements changed.
   */
  async load(): Promise<boolean> {
    const dir = this.config.agreements;
    const now = new Date();
    if (dir === undefined) return false;
    const fingerprint = await directoryFingerprint(dir);
    if (fingerprint === this.fingerprint && now.getTime() - this.lastLoad < 5_000) return false;
    this.fingerprint = fingerprint;
    this.lastLoad = now.getTime();
    const inactive: InactiveAgreement[] = [];
    const agreements = await loadAgreements(dir, this.manifest, this.config.partner, now, this.log, inactive);
    this.inactive = inactive;
    const signature = agreements.map((a) => `${a.body.id}:${a.revokedAt ?? ''}`).join('|');
    if (signature === this.signature) return false;
    this.signature = signature;
    this.agreements = agreements;
    this.policy = sharePolicy(agreements, this.config.partner);
    await this.writeAccess(now);
    this.log.info({ agreements: agreements.map((a) => a.body.id) }, 'active agreements');
    return true;
  }

  /** Writes the NATS access files for the recipients of now; the embedded server reloads on a change. */
  async writeAccess(now: Date): Promise<string | undefined> {
    if (this.accessDir === undefined) return undefined;
    const files = await writeAccessFiles(
      this.accessDir,
      this.policy.recipients(now).map((r) => r.id),
    );
    const text = await readFile(files.configFile, 'utf8');
    if (this.embedded !== undefined && text !== this.accessText) await this.embedded.reload(text);
    this.accessText = text;
    return files.gatewayNkeyFile;
  }

  /** Reloads on every change the file system reports, and polls as a fallback. */
  start(onChange: () => Promise<void>): void {
    const dir = this.config.agreements;
    if (dir === undefined) return;
    let again = false;
    const check = (): void => {
      if (this.running !== undefined) {
        again = true;
        return;
      }
      this.running = this.load()
        .then(async (changed) => {
          if (changed) await onChange();
        })
        .catch((e: unknown) => {
          // e.g. JetStream briefly unavailable while nats-server reloads its users: try again next round.
          this.signature = '';
          this.fingerprint = '';
          this.log.warn({ err: e }, 'applying the agreements failed; retrying');
        })
        .finally(() => {
          this.running = undefined;
          if (again) {
            again = false;
            check();
          }
        });
    };
    this.timer = setInterval(check, this.config.share.agreementsPoll);
    try {
      this.watcher = watch(dir, check);
      this.watcher.on('error', (e) =>
        this.log.warn({ err: e }, 'watching the agreements directory failed; polling'),
      );
    } catch (e) {
      this.log.warn({ err: e }, 'cannot watch the agreements directory; polling');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.watcher?.close();
    await this.running;
  }
}
