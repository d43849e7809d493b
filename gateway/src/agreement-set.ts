import { join } from 'node:path';

import {
  agreementStatus,
  AgreementError,
  type ActiveAgreement,
  type AgreementBody,
  type AgreementStatus,
} from '@wbx/agreements';
import type { ManifestBody } from '@wbx/registry';
import type { Logger } from 'pino';

import { listJsonFiles, readAgreementFile, type AgreementFileProblem } from './agreement-file.js';
import type { RevocationStore } from './revocation-store.js';

/** An agreement naming this partner that is active, and the file it was read from. */
export interface LoadedAgreement extends ActiveAgreement {
  readonly file: string;
}

/** An agreement naming this partner that is not active now, and why (agreementStatus reasons). */
export interface InactiveAgreement {
  readonly file: string;
  readonly body: AgreementBody;
  readonly reasons: readonly string[];
}

export interface AgreementSetOptions {
  readonly dir: string;
  readonly manifest: ManifestBody;
  /** Only agreements naming this partner (as provider or recipient) count. */
  readonly partner: string;
  readonly log: Logger;
  /** Where revocations are kept for good; without it, only the revoked copies in `dir` count. */
  readonly store?: RevocationStore;
}

/** The agreements naming the partner: active now, and the others with the reasons why not. */
export interface AgreementSetView {
  readonly agreements: LoadedAgreement[];
  readonly inactive: InactiveAgreement[];
}

/** One copy of an agreement: from a file of the directory, or from the revocation store. */
interface Copy {
  readonly file: string;
  readonly signed: unknown;
  readonly status: AgreementStatus;
}

/** Both parties' signatures verify: the document is what the two of them signed. */
const verified = (s: AgreementStatus): boolean =>
  s.signedBy.includes(s.body.provider) && s.signedBy.includes(s.body.recipient);

const revokedAtOf = (c: Copy): number => Date.parse(c.status.revokedAt ?? '') || Number.MAX_VALUE;

/**
 * The agreements of a directory, loaded again and again, as a partner's gateway sees them:
 *
 * - Each `*.json` file is read safely (see readAgreementFile); a file that cannot be read or does not
 *   hold an agreement both parties signed (half written, a directory, a FIFO, a link out of the
 *   directory, a bad signature) is logged by name and code — never its content — and the last good
 *   version that file held stays in force: only a valid new version or a valid revocation changes it.
 * - A revoked copy always wins over an unrevoked one, whichever file holds it; with a store, every
 *   valid revocation seen is recorded there and keeps winning after its file is gone or replaced.
 * - Two copies of one agreement id: a revoked one if any (the earliest revocation), else the first file.
 *
 * `load` throws AgreementsUnavailableError when the directory (or the store) cannot be listed.
 */
export class AgreementSet {
  /** Per file name: the last version that was an agreement signed by both parties. */
  private readonly good = new Map<string, unknown>();
  /** Per file name (or agreement id): what was last logged about it, so that a state is logged once. */
  private readonly logged = new Map<string, string>();

  constructor(private readonly options: AgreementSetOptions) {}

  async load(now: Date): Promise<AgreementSetView> {
    const { dir, partner, store } = this.options;
    await store?.load();
    const { names, realDir } = await listJsonFiles(dir);
    const listed = new Set(names);
    for (const name of [...this.good.keys()]) if (!listed.has(name)) this.good.delete(name);
    for (const key of [...this.logged.keys()])
      if (!listed.has(key) && !key.startsWith('id:')) this.logged.delete(key);
    const byId = new Map<string, [Copy, ...Copy[]]>();
    for (const name of names) {
      const copy = await this.read(realDir, name, now);
      if (copy === undefined) continue;
      const { body } = copy.status;
      if (body.provider !== partner && body.recipient !== partner) continue;
      const list = byId.get(body.id);
      if (list === undefined) byId.set(body.id, [copy]);
      else list.push(copy);
    }
    const agreements: LoadedAgreement[] = [];
    const inactive: InactiveAgreement[] = [];
    for (const [id, copies] of byId) {
      const chosen = await this.choose(id, copies, now);
      const { body, reasons, revokedAt } = chosen.status;
      if (chosen.status.active && !chosen.revokedInStore) {
        agreements.push({ file: chosen.file, body, ...(revokedAt === undefined ? {} : { revokedAt }) });
        this.once(`id:${id}`, 'active');
        continue;
      }
      const why = chosen.revokedInStore ? [...reasons, 'REVOKED'] : reasons;
      inactive.push({ file: chosen.file, body, reasons: why });
      if (this.once(`id:${id}`, why.join(','))) {
        this.options.log.info({ file: chosen.file, agreement: id, reasons: why }, 'agreement not active');
      }
    }
    agreements.sort((a, b) => a.file.localeCompare(b.file));
    return { agreements, inactive };
  }

  /** Records `state` for `key`; true when it differs from what was recorded (i.e. worth a log line). */
  private once(key: string, state: string): boolean {
    if (this.logged.get(key) === state) return false;
    this.logged.set(key, state);
    return true;
  }

  private status(signed: unknown, now: Date): AgreementStatus | AgreementError {
    try {
      return agreementStatus(signed, this.options.manifest, now);
    } catch (e) {
      if (e instanceof AgreementError) return e;
      throw e;
    }
  }

  /** The copy a file holds now: what it holds if valid, else its last good version, else what it holds. */
  private async read(realDir: string, name: string, now: Date): Promise<Copy | undefined> {
    const { dir, log } = this.options;
    const file = join(dir, name);
    const read = await readAgreementFile(realDir, name);
    let problem: AgreementFileProblem;
    /** The system error (ENOENT, EACCES, …) or the agreement error's code. */
    let detail: string | undefined;
    let fresh: Copy | undefined;
    if (!read.ok) {
      problem = read.problem;
      detail = read.errno;
    } else {
      const status = this.status(read.json, now);
      if (status instanceof AgreementError) {
        problem = 'AGREEMENT_MALFORMED';
        detail = status.code;
      } else if (verified(status)) {
        this.good.set(name, read.json);
        this.once(name, 'good');
        return { file, signed: read.json, status };
      } else {
        problem = 'AGREEMENT_NOT_VERIFIED';
        fresh = { file, signed: read.json, status };
      }
    }
    const kept = this.good.get(name);
    if (this.once(name, `${problem}:${detail ?? ''}`)) {
      // The name and a fixed code only: never a byte of the file (it may be a link to a secret).
      const fields = { file, code: problem, ...(detail === undefined ? {} : { detail }) };
      if (kept !== undefined) log.warn(fields, 'agreement file refused; its last good version stays');
      else if (fresh === undefined) log.warn(fields, 'agreement file refused');
    }
    if (kept === undefined) return fresh;
    const status = this.status(kept, now);
    return status instanceof AgreementError ? undefined : { file, signed: kept, status };
  }

  /**
   * The copy of agreement `id` that counts: a verified revoked copy (from a file or the store) before
   * anything else, the earliest revocation first; else the first verified copy; else the first. A new or
   * earlier revocation is recorded in the store. A stored revocation that cannot be read or verified
   * keeps the agreement revoked (`revokedInStore`).
   */
  private async choose(
    id: string,
    copies: readonly [Copy, ...Copy[]],
    now: Date,
  ): Promise<Copy & { revokedInStore: boolean }> {
    const { store, log } = this.options;
    const stored = store?.get(id) ?? { found: false, everywhere: true };
    let fromStore: Copy | undefined;
    if (stored.found && stored.signed !== undefined && store !== undefined) {
      const status = this.status(stored.signed, now);
      if (!(status instanceof AgreementError) && verified(status) && status.revokedAt !== undefined) {
        fromStore = { file: store.fileOf(id), signed: stored.signed, status };
      }
    }
    const revoked = [...copies, ...(fromStore === undefined ? [] : [fromStore])]
      .filter((c) => verified(c.status) && c.status.revokedAt !== undefined)
      .sort((a, b) => revokedAtOf(a) - revokedAtOf(b));
    const [first] = revoked;
    if (first !== undefined) {
      const newer =
        first !== fromStore && (fromStore === undefined || revokedAtOf(first) < revokedAtOf(fromStore));
      if (store !== undefined && (newer || !stored.everywhere)) {
        await store.record(id, first.signed);
      }
      return { ...first, revokedInStore: false };
    }
    const distinct = new Set(copies.filter((c) => verified(c.status)).map((c) => JSON.stringify(c.signed)));
    if (distinct.size > 1 && this.once(`id:${id}:copies`, String(distinct.size))) {
      log.warn(
        { agreement: id, files: copies.map((c) => c.file), code: 'AGREEMENT_DUPLICATE_ID' },
        'several different copies of one agreement: the first file counts',
      );
    }
    const chosen = copies.find((c) => verified(c.status)) ?? copies[0];
    // A stored revocation that cannot be read or verified any more: revoked all the same (fail closed).
    return { ...chosen, revokedInStore: stored.found };
  }
}

/**
 * The agreements of `dir` active now that name `partner`, read once (see AgreementSet for the rules),
 * revocations recorded in `store` when given. Throws AgreementsUnavailableError when the directory or
 * the store cannot be listed.
 */
export async function loadAgreements(
  dir: string,
  manifest: ManifestBody,
  partner: string,
  now: Date,
  log: Logger,
  store?: RevocationStore,
): Promise<LoadedAgreement[]> {
  const set = new AgreementSet({ dir, manifest, partner, log, ...(store === undefined ? {} : { store }) });
  return (await set.load(now)).agreements;
}
