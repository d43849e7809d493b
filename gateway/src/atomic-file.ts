import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface WriteFileAtomicOptions {
  /** The file's mode, whatever the umask (default 0600: what WBX writes is mostly secret or signed). */
  readonly mode?: number;
  /** Refuse (EEXIST) when the file exists; still never leaves a part-written file at `path`. */
  readonly exclusive?: boolean;
  /** fsync the file and its directory before returning (default true). */
  readonly sync?: boolean;
  /** Create the directory (mode 0700) when it is missing (default true). */
  readonly mkdir?: boolean;
}

/**
 * Writes `data` to `path` so that a reader, or the same path after a crash, sees the old content or the
 * new one, never a part: a temporary file in the same directory (created exclusively with `mode`, then
 * chmod'ed to it), synced, then renamed over `path` (or, with `exclusive`, hard-linked to it, which fails
 * if `path` exists), and the directory synced. The temporary file is removed whatever happens.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const sync = options.sync ?? true;
  const dir = dirname(path);
  if (options.mkdir ?? true) await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx', mode);
    try {
      await file.writeFile(data);
      await file.chmod(mode);
      if (sync) await file.sync();
    } finally {
      await file.close();
    }
    if (options.exclusive === true) await link(temp, path);
    else await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  if (sync) await syncDirectory(dir);
}

/** fsyncs a directory so that a rename or a new entry in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
