import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { writeFileAtomic } from '@wbx/gateway';
import { decodeManifest, generateSigningKey, importPublicJwk, type SignedManifest } from '@wbx/registry';
import { isPartnerCode, PARTNER_CODES } from '@wbx/schema';
import type { Command } from 'commander';

import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const isErrno = (e: unknown, code: string): boolean =>
  e instanceof Error && 'code' in e && (e as NodeJS.ErrnoException).code === code;

/** Reads and parses a JSON file: IO if it cannot be read, INVALID_INPUT if it is not JSON. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CliError('IO', `cannot read ${what} ${path}: ${errorText(e)}`, { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CliError('INVALID_INPUT', `${what} ${path} is not JSON: ${errorText(e)}`, { cause: e });
  }
}

/** How the CLI writes a public document: world-readable, into a directory that must exist. */
export const PUBLIC_FILE = { mode: 0o644, mkdir: false } as const;

export interface KeysGenerateOptions {
  partner: string;
  out: string;
  force?: boolean;
  manifest?: string;
}

/** Kids already in use for the partner: in an existing public key file in DIR and in `--manifest`. */
async function existingKids(publicPath: string, manifestPath: string | undefined): Promise<string[]> {
  const kids: string[] = [];
  try {
    kids.push(importPublicJwk(JSON.parse(await readFile(publicPath, 'utf8')) as unknown).kid);
  } catch {
    // No usable previous public key: nothing to number after.
  }
  if (manifestPath !== undefined) {
    const signed = (await readJsonFile(manifestPath, 'manifest')) as SignedManifest;
    try {
      kids.push(...decodeManifest(signed).members.flatMap((m) => m.signingKeys.map((k) => k.kid)));
    } catch (e) {
      throw new CliError('INVALID_INPUT', `manifest ${manifestPath}: ${errorText(e)}`, { cause: e });
    }
  }
  return kids;
}

/**
 * `wbx keys generate`: a new Ed25519 signing key for a partner, written as DIR/<P>.private.jwk (mode
 * 0600) and DIR/<P>.public.jwk, both with the kid; prints the kid. Never overwrites a private key
 * unless `--force`.
 */
export async function keysGenerateCommand(io: CliIo, options: KeysGenerateOptions): Promise<number> {
  const partner = options.partner;
  if (!isPartnerCode(partner)) {
    throw new CliError(
      'USAGE',
      `--partner: "${partner}" is not a partner code (one of ${[...PARTNER_CODES].join(', ')})`,
    );
  }
  const privatePath = join(options.out, `${partner}.private.jwk`);
  const publicPath = join(options.out, `${partner}.public.jwk`);
  try {
    await mkdir(options.out, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CliError('IO', `cannot create ${options.out}: ${errorText(e)}`, { cause: e });
  }
  const key = generateSigningKey(partner, io.now(), await existingKids(publicPath, options.manifest));
  const force = options.force === true;
  try {
    await writeFileAtomic(privatePath, `${JSON.stringify(key.privateJwk, null, 2)}\n`, {
      mode: 0o600,
      exclusive: !force,
      mkdir: false,
    });
  } catch (e) {
    if (isErrno(e, 'EEXIST')) {
      throw new CliError('USAGE', `${privatePath} exists; refusing to overwrite a private key (use --force)`);
    }
    throw new CliError('IO', `cannot write ${privatePath}: ${errorText(e)}`, { cause: e });
  }
  try {
    await writeFileAtomic(publicPath, `${JSON.stringify(key.publicJwk, null, 2)}\n`, PUBLIC_FILE);
  } catch (e) {
    throw new CliError('IO', `cannot write ${publicPath}: ${errorText(e)}`, { cause: e });
  }
  await write(io.stdout, `${key.kid}\n`);
  await write(io.stderr, `wrote ${privatePath} (keep it secret) and ${publicPath}\n`);
  return 0;
}

/** Adds `wbx keys …` to the program. Actions store their exit status in `result.exitCode`. */
export function registerKeysCommands(program: Command, io: CliIo, result: { exitCode: number }): void {
  const keys = program.command('keys').description('manage this partner’s manifest signing keys');
  keys
    .command('generate')
    .description('generate an Ed25519 signing key: DIR/<P>.private.jwk (mode 0600) and DIR/<P>.public.jwk')
    .requiredOption('--partner <code>', 'partner code, e.g. MK')
    .requiredOption('--out <dir>', 'directory for the key files (created if missing)')
    .option('--manifest <file>', 'number the kid after the kids this manifest lists')
    .option('--force', 'overwrite an existing private key')
    .action(async (opts: KeysGenerateOptions) => {
      result.exitCode = await keysGenerateCommand(io, opts);
    });
}
