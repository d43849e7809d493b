import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { RegistryError, resolveSigningKey, type ManifestBody, type SignedManifest } from '@wbx/registry';
import type { Logger } from 'pino';

import { ChangeWatch } from './change-watch.js';
import { ConfigError, type GatewayConfig } from './config.js';
import { SnapshotListeners } from './snapshot-listeners.js';
import { trustManifest, type TrustedManifest } from './trusted-manifest.js';

/** The manifest a gateway runs with at one instant. Frozen: a newer one replaces it. */
export interface ManifestSnapshot {
  readonly body: ManifestBody;
  /** The signed document as JSON text, exactly as it was trusted (Federation.GetManifest serves it). */
  readonly json: string;
}

/** Receives each newer manifest; a rejection has it delivered again at the next check. */
export type ManifestListener = (manifest: ManifestSnapshot) => Promise<void> | void;

/** Where the node's parts read the manifest: the current one, and each newer one as it is accepted. */
export interface ManifestSource {
  readonly current: ManifestSnapshot;
  /** Calls `listener` with every later manifest (not the current one), in subscription order. */
  subscribe(listener: ManifestListener): Disposable;
}

/** A source whose manifest never changes (benchmarks, tests, tools). */
export function fixedManifest(body: ManifestBody, json = ''): ManifestSource {
  const current = Object.freeze({ body, json });
  return { current, subscribe: () => ({ [Symbol.dispose]: () => undefined }) };
}

/** What the watcher reads of the gateway's configuration. */
export type ManifestWatcherConfig = Pick<GatewayConfig, 'partner' | 'manifest' | 'data'> & {
  readonly share: Pick<GatewayConfig['share'], 'agreementsPoll'>;
};

/**
 * Watches the configured manifest file (its directory, so that a mounted ConfigMap's `..data` swap is
 * seen) and takes up a newer version while the gateway runs, by the same rule as at start
 * (trustManifest: the direct successor of the trusted version, signed by the trusted version's threshold
 * of its members; persisted as the new trusted version). Fails closed: a rollback, a file that is not
 * JSON (half written) or cannot be read, or a version that cannot be trusted is refused with a coded
 * error log, once per content, and the running manifest stays.
 */
export class ManifestWatcher implements ManifestSource {
  #current: ManifestSnapshot;
  private readonly listeners: SnapshotListeners<ManifestSnapshot>;
  /** The text last looked at (accepted or refused), so that one content is judged and logged once. */
  private seen: string;
  private unreadable: string | undefined;
  private changes: ChangeWatch | undefined;

  constructor(
    private readonly config: ManifestWatcherConfig,
    trusted: ManifestSnapshot,
    /** This gateway's signing key, checked against each newer manifest (a warning when it cannot sign). */
    private readonly signerKid: string,
    private readonly log: Logger,
  ) {
    this.#current = Object.freeze({ body: trusted.body, json: trusted.json });
    this.seen = trusted.json;
    this.listeners = new SnapshotListeners(
      () => this.#current,
      (e) => log.warn({ err: e }, 'applying the new manifest failed; retrying'),
    );
  }

  get current(): ManifestSnapshot {
    return this.#current;
  }

  subscribe(listener: ManifestListener): Disposable {
    return this.listeners.subscribe(listener);
  }

  /**
   * Reads the configured file; a newer version that can be trusted becomes the current manifest and is
   * handed to every listener before this resolves. Resolves to the current manifest.
   */
  async load(): Promise<ManifestSnapshot> {
    const text = await this.read();
    if (text !== undefined && text !== this.seen) {
      this.seen = text;
      const accepted = await this.judge(text);
      if (accepted !== undefined && accepted.json !== this.#current.json) {
        const previous = this.#current.body.version;
        this.#current = Object.freeze({ body: accepted.body, json: accepted.json });
        this.listeners.changed();
        this.log.info({ version: accepted.body.version, previous }, 'manifest reloaded');
        this.checkSigner(accepted.body);
      }
    }
    await this.listeners.deliver();
    return this.#current;
  }

  /** The file's text, or undefined (logged once per errno) when it cannot be read. */
  private async read(): Promise<string | undefined> {
    try {
      const text = await readFile(this.config.manifest, 'utf8');
      this.unreadable = undefined;
      return text;
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).code ?? 'error';
      if (this.unreadable !== errno) {
        this.log.error(
          { code: 'MANIFEST_UNREADABLE', errno, file: this.config.manifest, running: this.version },
          'manifest refused: the file cannot be read; the running manifest stays',
        );
      }
      this.unreadable = errno;
      return undefined;
    }
  }

  private get version(): number {
    return this.#current.body.version;
  }

  /** The trusted manifest `text` holds, or undefined (logged with a code) when it cannot be trusted. */
  private async judge(text: string): Promise<TrustedManifest | undefined> {
    let signed: SignedManifest;
    try {
      signed = JSON.parse(text) as SignedManifest;
    } catch {
      this.log.error(
        { code: 'MANIFEST_UNREADABLE', file: this.config.manifest, running: this.version },
        'manifest refused: the file is not JSON (half written?); the running manifest stays',
      );
      return undefined;
    }
    try {
      // Logs its refusal (code, versions) itself.
      return await trustManifest(this.config.data, { signed, text }, this.log);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.log.warn({ code: e.code, running: this.version }, 'the running manifest stays');
      return undefined;
    }
  }

  /** Warns when this gateway's own key cannot sign under `body` (its events would be refused). */
  private checkSigner(body: ManifestBody): void {
    try {
      resolveSigningKey(body, this.config.partner, this.signerKid, new Date());
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      this.log.error(
        { code: e.code, kid: this.signerKid, version: body.version },
        "this gateway's signing key cannot sign under the new manifest: restart it with a valid key",
      );
    }
  }

  /** Reloads on every change in the manifest file's directory, and polls as a fallback. */
  start(): void {
    if (this.changes !== undefined) return;
    this.changes = new ChangeWatch({
      dir: dirname(this.config.manifest),
      pollMs: this.config.share.agreementsPoll,
      what: "the manifest's directory",
      log: this.log,
      check: () => this.load().then(() => undefined),
      onError: (e) => {
        this.seen = '';
        this.log.warn({ err: e }, 'loading the manifest failed; retrying');
      },
    });
    this.changes.start();
  }

  async stop(): Promise<void> {
    await this.changes?.stop();
  }
}
