import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** The largest agreement file read; anything bigger is refused unread. */
export const AGREEMENT_FILE_MAX_BYTES = 1024 * 1024;

/**
 * Why one file of an agreements directory was not read as an agreement. Logged with the file name, never
 * with the file's content; add new codes, never rename.
 */
export type AgreementFileProblem =
  /** A directory, FIFO, socket or device named `*.json`. */
  | 'AGREEMENT_NOT_REGULAR_FILE'
  /** A symbolic link whose real path is outside the directory (e.g. to the gateway's nkey). */
  | 'AGREEMENT_SYMLINK_OUTSIDE'
  /** Larger than AGREEMENT_FILE_MAX_BYTES. */
  | 'AGREEMENT_TOO_LARGE'
  /** It could not be opened or read (permissions, a dangling link, an I/O error). */
  | 'AGREEMENT_UNREADABLE'
  /** Not JSON (e.g. half written). */
  | 'AGREEMENT_NOT_JSON'
  /** JSON, but not a signed agreement (AgreementError). */
  | 'AGREEMENT_MALFORMED'
  /** A signed agreement without a valid signature of each party. */
  | 'AGREEMENT_NOT_VERIFIED';

/** The directory itself cannot be listed: nothing in it can be trusted to be complete. */
export class AgreementsUnavailableError extends Error {
  constructor(
    readonly code: 'AGREEMENTS_DIR_UNREADABLE' | 'REVOCATIONS_UNREADABLE',
    message: string,
    /** The system error code (ENOENT, EACCES, …), if any. */
    readonly errno: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export type FileRead =
  | { readonly ok: true; readonly json: unknown; readonly bytes: number }
  | { readonly ok: false; readonly problem: AgreementFileProblem; readonly errno?: string };

const errnoOf = (e: unknown): string | undefined =>
  typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;

/**
 * The names ending in `.json` in `dir`, sorted, and the directory's real path. Throws
 * AgreementsUnavailableError (with `code`) when the directory cannot be listed.
 */
export async function listJsonFiles(
  dir: string,
  code: AgreementsUnavailableError['code'] = 'AGREEMENTS_DIR_UNREADABLE',
): Promise<{ names: string[]; realDir: string }> {
  try {
    const realDir = await realpath(dir);
    const names = (await readdir(realDir)).filter((f) => f.endsWith('.json')).sort();
    return { names, realDir };
  } catch (e) {
    const errno = errnoOf(e);
    throw new AgreementsUnavailableError(code, `cannot list ${dir} (${errno ?? 'error'})`, errno, {
      cause: e,
    });
  }
}

/**
 * A fingerprint of the directory's agreement files (names, sizes, times, inodes) to notice changes
 * cheaply; stat follows a link (a ConfigMap's `..data` swap changes it) and never opens a file. Throws
 * AgreementsUnavailableError when the directory cannot be listed.
 */
export async function directoryFingerprint(dir: string): Promise<string> {
  const { names, realDir } = await listJsonFiles(dir);
  const parts: string[] = [];
  for (const name of names) {
    const s = await stat(join(realDir, name)).catch(() => undefined);
    parts.push(s === undefined ? `${name}:-` : `${name}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`);
  }
  return parts.join('|');
}

const inside = (realDir: string, real: string): boolean =>
  real.startsWith(realDir.endsWith(sep) ? realDir : realDir + sep);

/** Where an open file descriptor really points, on systems that say so (Linux's /proc). */
async function pathOfFd(fd: number): Promise<string | undefined> {
  return readlink(`/proc/self/fd/${fd}`).catch(() => undefined);
}

/**
 * Reads one `*.json` file of an agreements directory as JSON, safely: only a regular file (a symbolic
 * link is followed only when its real path stays inside the directory, as in a Kubernetes ConfigMap
 * mount's `x.json -> ..data/x.json`), opened without blocking (a FIFO never hangs the reader) and without
 * following a last-moment link, checked again on the open descriptor, at most AGREEMENT_FILE_MAX_BYTES.
 * Never throws; the problem says what was wrong and nothing of the content.
 */
export async function readAgreementFile(realDir: string, name: string): Promise<FileRead> {
  const path = join(realDir, name);
  let target = path;
  try {
    const l = await lstat(path);
    if (l.isSymbolicLink()) {
      target = await realpath(path);
      if (!inside(realDir, target)) return { ok: false, problem: 'AGREEMENT_SYMLINK_OUTSIDE' };
    } else if (!l.isFile()) {
      return { ok: false, problem: 'AGREEMENT_NOT_REGULAR_FILE' };
    }
  } catch (e) {
    const errno = errnoOf(e);
    return { ok: false, problem: 'AGREEMENT_UNREADABLE', ...(errno === undefined ? {} : { errno }) };
  }
  let text: Buffer;
  try {
    const fh = await open(target, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    try {
      const s = await fh.stat();
      if (!s.isFile()) return { ok: false, problem: 'AGREEMENT_NOT_REGULAR_FILE' };
      const real = await pathOfFd(fh.fd);
      if (real !== undefined && !inside(realDir, real)) {
        return { ok: false, problem: 'AGREEMENT_SYMLINK_OUTSIDE' };
      }
      if (s.size > AGREEMENT_FILE_MAX_BYTES) return { ok: false, problem: 'AGREEMENT_TOO_LARGE' };
      const buffer = Buffer.alloc(AGREEMENT_FILE_MAX_BYTES + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > AGREEMENT_FILE_MAX_BYTES) return { ok: false, problem: 'AGREEMENT_TOO_LARGE' };
      }
      text = buffer.subarray(0, length);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const errno = errnoOf(e);
    return { ok: false, problem: 'AGREEMENT_UNREADABLE', ...(errno === undefined ? {} : { errno }) };
  }
  try {
    // JSON.parse's message quotes the input: it never leaves this function.
    return { ok: true, json: JSON.parse(text.toString('utf8')), bytes: text.length };
  } catch {
    return { ok: false, problem: 'AGREEMENT_NOT_JSON' };
  }
}
