import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs the `openssl` CLI in `cwd`; a failure says which subcommand and what openssl printed. */
export async function openssl(cwd: string, args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? (e as Error).message;
    const hint = 'is openssl installed? scripts/setup.sh installs it';
    throw new Error(`openssl ${args[0] ?? ''} failed (${hint}): ${stderr.trim()}`, { cause: e });
  }
}
