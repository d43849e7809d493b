import { link, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { writeFileAtomic } from '../../src/atomic-file.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wbx-atomic-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('replaces a file with the given mode whatever the umask, leaving no temporary file', async () => {
    const path = join(dir, 'a.json');
    await writeFile(path, 'old');
    const umask = process.umask(0o077);
    try {
      await writeFileAtomic(path, 'new', { mode: 0o644 });
    } finally {
      process.umask(umask);
    }
    expect(await readFile(path, 'utf8')).toBe('new');
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(dir)).toEqual(['a.json']);
  });

  it('writes secrets 0600 by default and creates a missing directory 0700', async () => {
    const path = join(dir, 'sub', 'key');
    await writeFileAtomic(path, 'seed');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700);
  });

  it('with exclusive, refuses an existing file and keeps it whole', async () => {
    const path = join(dir, 'private.jwk');
    await writeFile(path, 'first');
    await expect(writeFileAtomic(path, 'second', { exclusive: true })).rejects.toMatchObject({
      code: 'EEXIST',
    });
    expect(await readFile(path, 'utf8')).toBe('first');
    expect(await readdir(dir)).toEqual(['private.jwk']);
  });

  it('with mkdir false, fails on a missing directory and writes nothing', async () => {
    const path = join(dir, 'missing', 'x');
    await expect(writeFileAtomic(path, 'x', { mkdir: false })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('replaces by rename, never in place: another link to the old file keeps the old content', async () => {
    const path = join(dir, 'manifest.json');
    await writeFile(path, 'old');
    await link(path, join(dir, 'other-name'));
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readFile(join(dir, 'other-name'), 'utf8')).toBe('old');
  });
});
