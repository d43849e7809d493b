import { join } from 'node:path';

import { AGREEMENT_ID_RE } from '@wbx/agreements';
import type { Logger } from 'pino';

import { AgreementsUnavailableError, listJsonFiles, readAgreementFile } from './agreement-file.js';
import { writeFileAtomic } from './atomic-file.js';

/** Where a gateway keeps the revocations it has seen, under its data directory. */
export const REVOKED_DIR = join('agreements-state', 'revoked');

/** What the store holds for one agreement id. */
export interface StoredRevocation {
  /** A file for the id exists in some directory of the store (readable or not). */
  readonly found: boolean;
  /** The signed, revoked agreement, when a file could be read. */
  readonly signed?: unknown;
  /** Every directory of the store has a readable file for the id. */
  readonly everywhere: boolean;
}

/**
 * The revocations a partner has seen, kept for good: one file `<agreementId>.json` per revoked agreement,
 * holding the signed document with its revocation (mode 0600, written atomically), in each of the
 * store's directories (the gateway has one, `<data>/agreements-state/revoked`; `wbx nats-config` may
 * have two). A revocation stays when the file that carried it leaves the agreements directory or is
 * replaced by an older copy; only an operator who deletes the stored files and restarts undoes it.
 */
export class RevocationStore {
  /** Per id: the signed document (the first readable one), or undefined when no file could be read. */
  private readonly entries = new Map<string, { signed: unknown } | undefined>();
  /** Per id: the directories holding a readable file for it. */
  private readonly present = new Map<string, Set<string>>();
  private readonly reported = new Set<string>();

  constructor(
    /** The store's directories, e.g. `<data>/agreements-state/revoked`; the first is named in logs. */
    readonly dirs: readonly [string, ...string[]],
    private readonly log: Logger,
  ) {}

  /** The store under one or more data directories (each gets `agreements-state/revoked`). */
  static ofData(dataDirs: string | readonly [string, ...string[]], log: Logger): RevocationStore {
    const list = typeof dataDirs === 'string' ? [dataDirs] : [...new Set(dataDirs)];
    const [first, ...rest] = list.map((d) => join(d, REVOKED_DIR));
    return new RevocationStore([first ?? REVOKED_DIR, ...rest], log);
  }

  fileOf(id: string): string {
    return join(this.dirs[0], `${id}.json`);
  }

  /**
   * Reads the stored revocations not yet in memory (those in memory are never dropped). A directory
   * that does not exist yet is empty; one that exists but cannot be listed throws
   * AgreementsUnavailableError (REVOCATIONS_UNREADABLE): who cannot know its revocations must not share.
   */
  async load(): Promise<void> {
    for (const dir of this.dirs) {
      let listed: Awaited<ReturnType<typeof listJsonFiles>>;
      try {
        listed = await listJsonFiles(dir, 'REVOCATIONS_UNREADABLE');
      } catch (e) {
        if (e instanceof AgreementsUnavailableError && e.errno === 'ENOENT') continue;
        throw e;
      }
      for (const name of listed.names) {
        const id = name.slice(0, -'.json'.length);
        if (!AGREEMENT_ID_RE.test(id) || this.present.get(id)?.has(dir) === true) continue;
        const read = await readAgreementFile(listed.realDir, name);
        if (read.ok) {
          if (this.entries.get(id) === undefined) this.entries.set(id, { signed: read.json });
          this.present.set(id, new Set([...(this.present.get(id) ?? []), dir]));
          continue;
        }
        if (!this.entries.has(id)) this.entries.set(id, undefined);
        if (!this.reported.has(`${dir}/${id}`)) {
          this.reported.add(`${dir}/${id}`);
          // Fail closed: the agreement counts as revoked until a valid revoked copy replaces the file.
          this.log.error(
            { file: join(dir, name), code: read.problem, errno: read.errno },
            'a stored revocation cannot be read: the agreement stays revoked',
          );
        }
      }
    }
  }

  get(id: string): StoredRevocation {
    const entry = this.entries.get(id);
    const everywhere = this.dirs.every((d) => this.present.get(id)?.has(d) === true);
    if (!this.entries.has(id)) return { found: false, everywhere };
    return entry === undefined
      ? { found: true, everywhere }
      : { found: true, signed: entry.signed, everywhere };
  }

  /**
   * Keeps `signed` (a verified agreement carrying a valid revocation) as the revocation of `id`: in
   * memory at once, then in each directory. A failed write is logged; the caller writes again at its
   * next load (the id is not `everywhere` yet).
   */
  async record(id: string, signed: unknown): Promise<void> {
    if (!AGREEMENT_ID_RE.test(id)) return;
    this.entries.set(id, { signed });
    const present = new Set<string>();
    for (const dir of this.dirs) {
      const file = join(dir, `${id}.json`);
      try {
        await writeFileAtomic(file, `${JSON.stringify(signed)}\n`);
        present.add(dir);
        this.reported.delete(`${dir}/${id}`);
        this.log.info({ agreement: id, file }, 'revocation recorded');
      } catch (e) {
        this.log.error(
          { agreement: id, file, code: 'REVOCATION_NOT_PERSISTED', errno: (e as { code?: string }).code },
          'recording a revocation failed: it holds in memory and is written again at the next load',
        );
      }
    }
    this.present.set(id, present);
  }
}
