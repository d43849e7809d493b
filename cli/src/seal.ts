import { readFile } from 'node:fs/promises';

import { verifyRootManifest, type ManifestBody, RegistryError } from '@wbx/registry';
import { validateLine } from '@wbx/schema';
import { createSealer, disclose, SealError, verifyPresentation } from '@wbx/seal';

import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';
import { loadPrivateKeyFile } from './key-file.js';
import { readLines } from './lines.js';
import { Progress } from './progress.js';
import { openInput } from './validate.js';

/** Lines of tokens are at most this long (the verifier's default cap, with room for a large event). */
const MAX_TOKEN_LINE = 1 << 20;

async function eachLine(
  io: CliIo,
  file: string | undefined,
  label: string,
  handle: (text: string, number: number) => Promise<boolean>,
): Promise<number> {
  const input = await openInput(io, file);
  const progress = new Progress(io.stderr, io.interactive, label);
  let failed = 0;
  let total = 0;
  for await (const line of readLines(input, MAX_TOKEN_LINE)) {
    if (!line.tooLong && line.text.trim() === '') continue;
    total += 1;
    progress.tick();
    if (line.tooLong) {
      failed += 1;
      await write(io.stderr, `line ${line.number}: TOO_LONG: line longer than ${MAX_TOKEN_LINE} bytes\n`);
    } else if (!(await handle(line.text.trim(), line.number))) failed += 1;
  }
  progress.done();
  await write(io.stderr, `${total} lines: ${total - failed} ${label}, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

/** `wbx seal --key FILE [--file F]`: validates each NDJSON event and writes one SD-JWT per line. */
export async function sealCommand(io: CliIo, options: { key: string; file?: string }): Promise<number> {
  const key = await loadPrivateKeyFile(options.key);
  const sealer = createSealer({ issuer: key.partner, kid: key.kid, privateKey: key.privateKey });
  const now = io.now();
  return eachLine(io, options.file, 'sealed', async (text, n) => {
    const r = validateLine(text, { now });
    if (!r.ok) {
      for (const v of r.violations)
        await write(io.stderr, `line ${n}: ${v.path || '(line)'} ${v.code}: ${v.message}\n`);
      return false;
    }
    try {
      await write(io.stdout, `${sealer.seal(r.event, { now })}\n`);
      return true;
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      await write(io.stderr, `line ${n}: ${e.code}: ${e.detail ?? e.message}\n`);
      return false;
    }
  });
}

export function parseFields(fields: string): string[] {
  const list = fields
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  for (const f of list) {
    if (!/^[a-zA-Z]+(\.[a-zA-Z]+)?$/.test(f)) {
      throw new CliError(
        'USAGE',
        `--fields: "${f}" is not a field path (e.g. routeSegment, persons.citizenship)`,
      );
    }
  }
  return list;
}

/** `wbx disclose --fields a,b.c [--file F]`: keeps only those disclosures of each SD-JWT line. */
export async function discloseCommand(
  io: CliIo,
  options: { fields: string; file?: string },
): Promise<number> {
  const fields = parseFields(options.fields);
  return eachLine(io, options.file, 'disclosed', async (text, n) => {
    try {
      await write(io.stdout, `${disclose(text, fields)}\n`);
      return true;
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      await write(io.stderr, `line ${n}: ${e.code}: ${e.detail ?? e.message}\n`);
      return false;
    }
  });
}

/** Reads a signed manifest file and checks it against its own signatures (k of its members). */
export async function loadTrustedManifest(path: string): Promise<ManifestBody> {
  let signed: unknown;
  try {
    signed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new CliError('IO', `cannot read manifest ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return verifyRootManifest(signed as Parameters<typeof verifyRootManifest>[0]);
  } catch (e) {
    if (e instanceof RegistryError) throw new CliError(e, `manifest rejected: ${e.message}`);
    throw e;
  }
}

/** `wbx verify --manifest FILE [--file F]`: one JSON object of verified claims per valid line. */
export async function verifyCommand(
  io: CliIo,
  options: { manifest: string; file?: string },
): Promise<number> {
  const manifest = await loadTrustedManifest(options.manifest);
  return eachLine(io, options.file, 'verified', async (text, n) => {
    try {
      const verified = verifyPresentation(text, { manifest, now: io.now() });
      await write(io.stdout, `${JSON.stringify(verified.claims)}\n`);
      return true;
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      await write(io.stderr, `line ${n}: ${e.code}: ${e.detail ?? e.message}\n`);
      return false;
    }
  });
}
