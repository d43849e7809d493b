import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  acceptNextManifest,
  decodeManifest,
  RegistryError,
  verifyRootManifest,
  type ManifestBody,
  type SignedManifest,
} from '@wbx/registry';
import type { Logger } from 'pino';

import { writeFileAtomic } from './atomic-file.js';
import { ConfigError, type ConfigErrorCode } from './config.js';

/** Where the gateway keeps the manifest it trusts, under its data directory. */
export function trustedManifestPath(dataDir: string): string {
  return join(dataDir, 'trust', 'manifest.json');
}

/** The manifest a gateway runs with: its body and the signed document (as served by GetManifest). */
export interface TrustedManifest {
  readonly body: ManifestBody;
  readonly signed: SignedManifest;
  /** The signed document as JSON text, exactly as it was trusted. */
  readonly json: string;
}

/** Logs the refusal (never the document) and throws it as a ConfigError naming the setting `manifest`. */
function refuse(log: Logger, code: ConfigErrorCode, message: string, fields: object, cause?: unknown): never {
  log.error({ code, setting: 'manifest', ...fields }, `manifest refused: ${message}`);
  throw new ConfigError([{ path: 'manifest', message: `${code}: ${message}` }], { code, cause });
}

/** A signed manifest and the exact text it was read from (what is persisted and served). */
export interface ManifestDocument {
  readonly signed: SignedManifest;
  readonly text: string;
}

function storeError(message: string, cause: unknown): ConfigError {
  return new ConfigError([{ path: 'data', message: `MANIFEST_TRUST_STORE: ${message}` }], {
    code: 'MANIFEST_TRUST_STORE',
    cause,
  });
}

const errnoOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? 'error';

/** The persisted trusted manifest, or undefined if there is none yet. Its text never reaches a message. */
async function readPersisted(path: string): Promise<(ManifestDocument & { body: ManifestBody }) | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw storeError(`cannot read the trusted manifest ${path} (${errnoOf(e)})`, e);
  }
  try {
    const signed = JSON.parse(text) as SignedManifest;
    return { signed, text, body: verifyRootManifest(signed) };
  } catch (e) {
    const why = e instanceof RegistryError ? e.code : 'not JSON';
    throw storeError(`the trusted manifest ${path} is invalid (${why}); restore it from a backup`, e);
  }
}

/**
 * Decides whether the configured manifest may be trusted. On first start (nothing persisted under
 * `dataDir`) it is trusted on first use if it verifies on its own. Afterwards it is accepted only if it
 * is the trusted version itself (same content) or its direct successor (TUF-style: the next version,
 * signed by at least the trusted version's threshold of the trusted version's members); an accepted
 * successor replaces the persisted one. Intermediate versions are not looked for: an operator steps a
 * gateway through each version in turn. Throws a ConfigError naming `manifest`: MANIFEST_ROLLBACK for an
 * older version, MANIFEST_NOT_TRUSTED for anything else that cannot be trusted, MANIFEST_TRUST_STORE
 * when the persisted one is unreadable.
 */
export async function trustManifest(
  dataDir: string,
  configured: ManifestDocument,
  log: Logger,
): Promise<TrustedManifest> {
  const path = trustedManifestPath(dataDir);
  const pinned = await readPersisted(path).catch((e: unknown) => {
    if (e instanceof ConfigError) log.error({ code: e.code, setting: 'data' }, e.message);
    throw e;
  });
  let claimed: ManifestBody;
  try {
    claimed =
      pinned === undefined ? verifyRootManifest(configured.signed) : decodeManifest(configured.signed);
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    return refuse(log, 'MANIFEST_NOT_TRUSTED', `${e.code}: ${e.message}`, { reason: e.code }, e);
  }
  if (pinned === undefined) {
    await persist(path, configured.text);
    log.info({ version: claimed.version }, 'manifest trusted on first use');
    return { body: claimed, signed: configured.signed, json: configured.text };
  }
  const versions = { trusted: pinned.body.version, configured: claimed.version };
  if (claimed.version < pinned.body.version) {
    return refuse(
      log,
      'MANIFEST_ROLLBACK',
      `version ${claimed.version} is older than the trusted version ${pinned.body.version}`,
      versions,
    );
  }
  if (claimed.version === pinned.body.version) {
    if (configured.signed.payload !== pinned.signed.payload) {
      return refuse(
        log,
        'MANIFEST_NOT_TRUSTED',
        `version ${claimed.version} differs from the trusted version ${pinned.body.version}`,
        versions,
      );
    }
    return { body: pinned.body, signed: pinned.signed, json: pinned.text };
  }
  let next: ManifestBody;
  try {
    next = acceptNextManifest(pinned.body, configured.signed);
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    const hint = e.code === 'VERSION_GAP' ? `; start with version ${pinned.body.version + 1} first` : '';
    return refuse(
      log,
      'MANIFEST_NOT_TRUSTED',
      `not a valid successor of the trusted version ${pinned.body.version}: ${e.code}: ${e.message}${hint}`,
      { ...versions, reason: e.code },
      e,
    );
  }
  await persist(path, configured.text);
  log.info(versions, 'manifest accepted as the successor of the trusted version');
  return { body: next, signed: configured.signed, json: configured.text };
}

/** Persists the whole signed document, exactly as read (it verified), atomically and private. */
async function persist(path: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(path, text);
  } catch (e) {
    throw storeError(`cannot write ${path} (${errnoOf(e)})`, e);
  }
}
