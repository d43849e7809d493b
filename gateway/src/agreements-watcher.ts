import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';

import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import { AgreementsUnavailableError } from './agreement-file.js';
import {
  directoryFingerprint,
  sharePolicy,
  type InactiveAgreement,
  type LoadedAgreement,
} from './agreement-policy.js';
import { AgreementSet } from './agreement-set.js';
import type { GatewayConfig } from './config.js';
import type { EmbeddedNats } from './embedded-nats.js';
import { writeAccessFiles } from './nats-access-files.js';
import { RevocationStore } from './revocation-store.js';
import { DENY_ALL, PAUSED, type SharePolicy } from './share-policy.js';

/**
 * Keeps the share policy, the recipients' streams and the NATS users in step with the agreements.
 *
 * Fails closed: while the agreements directory (or the revocation store in the data directory) cannot
 * be listed, the policy is PAUSED — nothing is shared, events wait unacknowledged, no share stream is
 * purged and no recipient's credentials are touched — `problem` says why (for /readyz), and everything
 * resumes when the directory can be read again. One bad file never stops the others: see AgreementSet.
 */
export class AgreementsWatcher {
  policy: SharePolicy = DENY_ALL;
  agreements: LoadedAgreement[] = [];
  /** Agreements naming this partner that are not active (expired, revoked, one signature, …). */
  inactive: InactiveAgreement[] = [];
  embedded: EmbeddedNats | undefined;
  private readonly set: AgreementSet | undefined;
  private problemCode: AgreementsUnavailableError['code'] | undefined;
  /** The recipients last written into the NATS access files. */
  private applied: string[] = [];
  private fingerprint = '';
  private lastLoad = 0;
  private signature = '';
  private accessText = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private watcher: FSWatcher | undefined;
  private watchWarned = false;
  private stopped = false;

  constructor(
    private readonly config: GatewayConfig,
    manifest: ManifestBody,
    private readonly log: Logger,
    /** Where the NATS access files are kept up to date, if this gateway manages them. */
    readonly accessDir: string | undefined,
  ) {
    if (config.agreements !== undefined) {
      this.set = new AgreementSet({
        dir: config.agreements,
        manifest,
        partner: config.partner,
        log,
        store: RevocationStore.ofData(config.data, log),
      });
    }
  }

  /** Whether the agreements could be read at the last load. */
  get healthy(): boolean {
    return this.problemCode === undefined;
  }

  /** Why they could not: AGREEMENTS_DIR_UNREADABLE or REVOCATIONS_UNREADABLE; sharing is paused. */
  get problem(): string | undefined {
    return this.problemCode;
  }

  /**
   * Loads the agreements when the directory changed (and every 5 s, for validity windows that open or
   * close) and brings the NATS access files up to date; the embedded server reloads when its users
   * changed. Resolves to whether the set of active agreements changed (never while paused: the share
   * streams stay as they are).
   */
  async load(): Promise<boolean> {
    const dir = this.config.agreements;
    if (dir === undefined || this.set === undefined) return false;
    const now = new Date();
    let view: Awaited<ReturnType<AgreementSet['load']>>;
    try {
      const fingerprint = await directoryFingerprint(dir);
      const fresh = fingerprint === this.fingerprint && now.getTime() - this.lastLoad < 5_000;
      if (fresh && this.healthy) return false;
      this.fingerprint = fingerprint;
      this.lastLoad = now.getTime();
      view = await this.set.load(now);
    } catch (e) {
      if (!(e instanceof AgreementsUnavailableError)) throw e;
      this.pause(e);
      return false;
    }
    if (!this.healthy) {
      this.log.info({ dir }, 'the agreements can be read again: sharing resumes');
      this.problemCode = undefined;
      this.signature = '';
      // A watch on a directory that was removed and created again sees nothing any more.
      this.watcher?.close();
      this.watcher = undefined;
    }
    this.inactive = view.inactive;
    const { agreements } = view;
    const signature = agreements.map((a) => `${a.body.id}:${a.revokedAt ?? ''}`).join('|');
    if (signature === this.signature) return false;
    this.agreements = agreements;
    this.policy = sharePolicy(agreements, this.config.partner);
    await this.writeAccess(now);
    this.signature = signature;
    this.log.info({ agreements: agreements.map((a) => a.body.id) }, 'active agreements');
    return true;
  }

  /** Fail closed: nothing is allowed until the agreements can be read again. */
  private pause(e: AgreementsUnavailableError): void {
    if (this.problemCode !== e.code) {
      this.log.error(
        { dir: this.config.agreements, code: e.code, errno: e.errno },
        'the agreements cannot be read: sharing paused until they can',
      );
    }
    this.problemCode = e.code;
    this.policy = PAUSED;
    this.agreements = [];
    this.inactive = [];
    this.signature = '';
    this.fingerprint = '';
  }

  /**
   * Writes the NATS access files for the recipients of now; the embedded server reloads on a change.
   * While paused, the users last written stay and no recipient's credentials are removed.
   */
  async writeAccess(now: Date): Promise<string | undefined> {
    if (this.accessDir === undefined) return undefined;
    const paused = this.policy.paused === true;
    const recipients = paused ? this.applied : this.policy.recipients(now).map((r) => r.id);
    const files = await writeAccessFiles(this.accessDir, recipients, undefined, { prune: !paused });
    this.applied = recipients;
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
      if (this.stopped) return;
      if (this.running !== undefined) {
        again = true;
        return;
      }
      this.running = this.load()
        .then(async (changed) => {
          this.watch(dir, check);
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
    this.watch(dir, check);
  }

  /** Watches the directory when it can be read and is not watched yet; polling covers the rest. */
  private watch(dir: string, check: () => void): void {
    if (this.watcher !== undefined || this.stopped || !this.healthy) return;
    try {
      const watcher = watch(dir, check);
      watcher.on('error', (e: NodeJS.ErrnoException) => {
        this.log.warn({ code: e.code }, 'watching the agreements directory failed; polling');
        watcher.close();
        if (this.watcher === watcher) this.watcher = undefined;
      });
      this.watcher = watcher;
      this.watchWarned = false;
    } catch (e) {
      if (!this.watchWarned) {
        this.log.warn(
          { code: (e as NodeJS.ErrnoException).code },
          'cannot watch the agreements directory; polling',
        );
      }
      this.watchWarned = true;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.watcher?.close();
    await this.running;
  }
}
