import { partnerPolicy, type PartnerPolicy } from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import { AgreementsUnavailableError, directoryFingerprint } from './agreement-file.js';
import { AgreementSet, type InactiveAgreement, type LoadedAgreement } from './agreement-set.js';
import { ChangeWatch } from './change-watch.js';
import type { GatewayConfig } from './config.js';
import type { ManifestSource } from './manifest-watcher.js';
import { RevocationStore } from './revocation-store.js';
import { SnapshotListeners } from './snapshot-listeners.js';

/** Why the agreements cannot be read: the directory, or the revocation store in the data directory. */
export type AgreementsProblem = AgreementsUnavailableError['code'];

/** What the node knows of its agreements at one instant. Frozen: a newer snapshot replaces it. */
export interface AgreementsSnapshot {
  /** The agreements naming this partner that are active, in file order; none while `problem`. */
  readonly agreements: readonly LoadedAgreement[];
  /** Those naming it that are not active (expired, revoked, one signature, …), and why. */
  readonly inactive: readonly InactiveAgreement[];
  /** The policy over `agreements`: deny-all while `problem`. */
  readonly policy: PartnerPolicy<LoadedAgreement>;
  /**
   * Set while the agreements cannot be read, so that nobody knows what is allowed: sharing is paused
   * (nothing is shared, events wait unacknowledged, no share stream is purged, no recipient's
   * credentials are touched) and received presentations wait at their origin.
   */
  readonly problem: AgreementsProblem | undefined;
  /** When it was taken. */
  readonly at: Date;
}

/** What the watcher reads of the gateway's configuration. */
export type AgreementsWatcherConfig = Pick<GatewayConfig, 'partner' | 'agreements' | 'data'> & {
  readonly share: Pick<GatewayConfig['share'], 'agreementsPoll'>;
};

/** Receives each new snapshot; a rejection has the same snapshot delivered again at the next check. */
export type AgreementsListener = (snapshot: AgreementsSnapshot) => Promise<void> | void;

/** Where the node's parts read the agreements: the current snapshot, and each newer one as it comes. */
export interface AgreementsSource {
  readonly current: AgreementsSnapshot;
  /**
   * Calls `listener` with every later snapshot (not with the current one), after the listeners that
   * subscribed before it have finished with it. Disposing unsubscribes.
   */
  subscribe(listener: AgreementsListener): Disposable;
}

/** A snapshot of `agreements` for `partner`. */
export function agreementsSnapshot(
  partner: string,
  agreements: readonly LoadedAgreement[],
  options: { readonly inactive?: readonly InactiveAgreement[]; readonly problem?: AgreementsProblem } = {},
): AgreementsSnapshot {
  return Object.freeze({
    agreements: Object.freeze([...agreements]),
    inactive: Object.freeze([...(options.inactive ?? [])]),
    policy: partnerPolicy(partner, Object.freeze([...agreements])),
    problem: options.problem,
    at: new Date(),
  });
}

/** A source whose snapshot never changes: agreements given once (benchmarks, tests, tools). */
export function fixedAgreements(partner: string, agreements: readonly LoadedAgreement[]): AgreementsSource {
  const current = agreementsSnapshot(partner, agreements);
  return { current, subscribe: () => ({ [Symbol.dispose]: () => undefined }) };
}

/** What decides whether a snapshot differs from the one before (everything but its time). */
function contentOf(s: AgreementsSnapshot): string {
  return JSON.stringify([
    s.problem ?? '',
    s.agreements.map((a) => [a.file, a.body, a.revokedAt ?? '']),
    s.inactive.map((a) => [a.file, a.body.id, a.reasons]),
  ]);
}

/**
 * Watches the agreements directory and publishes a new snapshot whenever what it holds for this
 * partner changes; the share worker, the NATS access files and the receive worker follow them.
 *
 * Fails closed: while the agreements directory (or the revocation store in the data directory) cannot
 * be listed, the snapshot says why (`problem`, also on /readyz) and allows nothing; everything resumes
 * when the directory can be read again. One bad file never stops the others: see AgreementSet.
 */
export class AgreementsWatcher implements AgreementsSource {
  #current: AgreementsSnapshot;
  private readonly listeners: SnapshotListeners<AgreementsSnapshot>;
  private set: AgreementSet | undefined;
  private readonly store: RevocationStore;
  private fingerprint = '';
  private lastLoad = 0;
  private changes: ChangeWatch | undefined;
  /** A newer manifest the agreements are to be checked against from the next load on. */
  private nextManifest: ManifestBody | undefined;
  private following: Disposable | undefined;

  /**
   * `manifest`: the manifest the agreements' signatures are checked against; a source (the gateway's
   * manifest watcher) has them checked again against each newer manifest it accepts.
   */
  constructor(
    private readonly config: AgreementsWatcherConfig,
    private readonly manifest: ManifestBody | ManifestSource,
    private readonly log: Logger,
  ) {
    this.#current = agreementsSnapshot(config.partner, []);
    this.listeners = new SnapshotListeners(
      () => this.#current,
      // e.g. JetStream briefly unavailable while nats-server reloads its users: again next round.
      (e) => log.warn({ err: e }, 'applying the agreements failed; retrying'),
    );
    this.store = RevocationStore.ofData(config.data, log);
    this.set = this.agreementSet('subscribe' in manifest ? manifest.current.body : manifest);
  }

  /** A fresh set (nothing remembered as last good) checked against `manifest`. */
  private agreementSet(manifest: ManifestBody): AgreementSet | undefined {
    const { agreements: dir, partner } = this.config;
    if (dir === undefined) return undefined;
    return new AgreementSet({ dir, manifest, partner, log: this.log, store: this.store });
  }

  get current(): AgreementsSnapshot {
    return this.#current;
  }

  subscribe(listener: AgreementsListener): Disposable {
    return this.listeners.subscribe(listener);
  }

  /**
   * Loads the agreements when the directory changed (and every 5 s, for validity windows that open or
   * close); a new snapshot when what they say changed, handed to every listener before this resolves.
   * Resolves to the current snapshot.
   */
  async load(): Promise<AgreementsSnapshot> {
    const next = await this.read();
    if (next !== undefined && contentOf(next) !== contentOf(this.#current)) {
      const before = this.#current;
      this.#current = next;
      this.listeners.changed();
      const ids = (s: AgreementsSnapshot): string[] => s.agreements.map((a) => a.body.id);
      if (
        next.problem === undefined &&
        (before.problem !== undefined || ids(before).join() !== ids(next).join())
      ) {
        this.log.info({ agreements: ids(next) }, 'active agreements');
      }
    }
    await this.listeners.deliver();
    return this.#current;
  }

  /** A snapshot of what the directory holds now, or undefined when nothing could have changed. */
  private async read(): Promise<AgreementsSnapshot | undefined> {
    if (this.nextManifest !== undefined) {
      this.set = this.agreementSet(this.nextManifest);
      this.nextManifest = undefined;
      this.fingerprint = '';
    }
    const { set } = this;
    const dir = this.config.agreements;
    if (dir === undefined || set === undefined) return undefined;
    const { partner } = this.config;
    const now = new Date();
    const wasProblem = this.#current.problem;
    try {
      const fingerprint = await directoryFingerprint(dir);
      const fresh = fingerprint === this.fingerprint && now.getTime() - this.lastLoad < 5_000;
      if (fresh && wasProblem === undefined) return undefined;
      this.fingerprint = fingerprint;
      this.lastLoad = now.getTime();
      const view = await set.load(now);
      if (wasProblem !== undefined) {
        this.log.info({ dir }, 'the agreements can be read again: sharing resumes');
        // A watch on a directory that was removed and created again sees nothing any more.
        this.changes?.unwatch();
      }
      return agreementsSnapshot(partner, view.agreements, { inactive: view.inactive });
    } catch (e) {
      if (!(e instanceof AgreementsUnavailableError)) throw e;
      // Fail closed: nothing is allowed until the agreements can be read again.
      if (wasProblem !== e.code) {
        this.log.error(
          { dir, code: e.code, errno: e.errno },
          'the agreements cannot be read: sharing paused until they can',
        );
      }
      this.fingerprint = '';
      return agreementsSnapshot(partner, [], { problem: e.code });
    }
  }

  /**
   * Reloads on every change the file system reports, and polls as a fallback; with a manifest source,
   * also whenever it accepts a newer manifest (every agreement is checked again against it).
   */
  start(): void {
    const dir = this.config.agreements;
    if (dir === undefined || this.changes !== undefined) return;
    const changes = new ChangeWatch({
      dir,
      pollMs: this.config.share.agreementsPoll,
      what: 'the agreements directory',
      log: this.log,
      check: () => this.load().then(() => undefined),
      onError: (e) => {
        this.fingerprint = '';
        this.log.warn({ err: e }, 'loading the agreements failed; retrying');
      },
      watchable: () => this.#current.problem === undefined,
    });
    this.changes = changes;
    if ('subscribe' in this.manifest) {
      this.following = this.manifest.subscribe((m) => {
        // Taken up by the next check (never by a load running now).
        this.nextManifest = m.body;
        changes.trigger();
      });
    }
    changes.start();
  }

  async stop(): Promise<void> {
    this.following?.[Symbol.dispose]();
    await this.changes?.stop();
  }
}
