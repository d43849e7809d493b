import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';

import { CliError, exitStatus } from './errors.js';

/** The streams a command talks to; the real process streams in production, pipes in tests. */
export interface CliIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Whether stderr is a terminal (progress is drawn only there). */
  readonly interactive: boolean;
  /** Current time (injectable for tests). */
  readonly now: () => Date;
  /** Environment for `WBX_…` settings; default: the process environment. */
  readonly env?: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    interactive: process.stderr.isTTY,
    now: () => new Date(),
  };
}

/** Writes with back-pressure: resolves at once when the buffer has room, else on 'drain'. */
export async function write(out: Writable, text: string): Promise<void> {
  if (out.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      resolve();
    };
    const onError = (e: Error): void => {
      out.off('drain', onDrain);
      reject(e);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

/** Prints an error as `wbx: <CODE>: <message>` on stderr; resolves to the exit status of the code. */
export async function reportError(io: CliIo, code: string, message: string): Promise<number> {
  await write(io.stderr, `wbx: ${code}: ${message}\n`);
  return exitStatus(code);
}

/** Ends a writable stream and waits until everything is flushed. */
export async function finish(out: Writable): Promise<void> {
  if (out === process.stdout || out === process.stderr) return;
  await new Promise<void>((resolve, reject) => {
    out.end((e?: Error | null) => {
      if (e) reject(e);
      else resolve();
    });
  });
}

/** Reads a PEM file named by a flag; an unreadable file is an IO error naming the flag (exit 2). */
export async function readPem(flag: string, path: string): Promise<Buffer>;
export async function readPem(flag: string, path: string | undefined): Promise<Buffer | undefined>;
export async function readPem(flag: string, path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (e) {
    throw new CliError('IO', `${flag}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}
