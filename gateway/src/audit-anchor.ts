import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

import { AuditError, parseAuditAnchor, type AuditAnchor, type AuditAnchorStore } from '@wbx/audit';

import { writeFileAtomic } from './atomic-file.js';

/** Where the gateway keeps its audit anchor, under its data directory. */
export function auditAnchorPath(dataDir: string): string {
  return join(dataDir, 'audit', 'anchor.json');
}

/** An anchor file is a few hundred bytes; anything bigger is not one. */
const MAX_ANCHOR_BYTES = 4_096;

/**
 * Reads an anchor file: a regular file (a symlink is refused), parsed and checked; undefined if there
 * is none. Throws INVALID_ANCHOR naming the file and the rule, never its content.
 */
export async function readAuditAnchor(path: string): Promise<AuditAnchor | undefined> {
  let text: string;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) throw new AuditError('INVALID_ANCHOR', `${path}: not a regular file`);
      if (stat.size > MAX_ANCHOR_BYTES)
        throw new AuditError('INVALID_ANCHOR', `${path}: too large for an anchor`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof AuditError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new AuditError('INVALID_ANCHOR', `${path}: a symbolic link`, { cause: e });
    throw new AuditError('INVALID_ANCHOR', `${path}: cannot be read (${code ?? 'error'})`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AuditError('INVALID_ANCHOR', `${path}: not JSON`);
  }
  try {
    return parseAuditAnchor(json);
  } catch (e) {
    if (e instanceof AuditError) throw new AuditError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

/** Writes the anchor atomically (mode 0600, synced with its directory). */
export async function writeAuditAnchor(path: string, anchor: AuditAnchor): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(anchor)}\n`);
}

/**
 * The gateway's anchor store: the latest signed checkpoint its AuditLog stored, in `path` (by default
 * `<data>/audit/anchor.json`). A purge or rebuild of WBX_AUDIT cannot reach it; `wbx audit verify
 * --anchor` checks a chain against it offline.
 */
export function fileAuditAnchor(path: string): AuditAnchorStore {
  return {
    load: () => readAuditAnchor(path),
    save: (anchor) => writeAuditAnchor(path, anchor),
  };
}
