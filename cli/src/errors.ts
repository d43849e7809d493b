import type { AgreementsUnavailableError, ConfigError, EmbeddedNatsError } from '@wbx/gateway';

/**
 * The CLI's own error codes. A CliError may also carry the code of the error it reports (a manifest's
 * INSUFFICIENT_SIGNATURES, a gateway's PURPOSE_NOT_AGREED, a gRPC status such as DEADLINE_EXCEEDED).
 */
export type CliErrorCode =
  /** The command line is wrong: a flag missing, malformed or contradicting another. */
  | 'USAGE'
  /** A local file cannot be read or written. */
  | 'IO'
  /** An input (file, document) is not what the command needs. */
  | 'INVALID_INPUT'
  /** A certificate file holds no usable X.509 certificate (not PEM or DER, a CA's, …). */
  | 'INVALID_CERTIFICATE'
  /** A server (a gateway, NATS) cannot be reached. */
  | 'UNREACHABLE'
  /** What the command names does not exist there (a stream). */
  | 'NOT_FOUND'
  /** An audit chain that does not verify: nothing is reported from it (fail closed). */
  | 'AUDIT_CHAIN_BROKEN'
  /** Stopped by SIGINT before the end. */
  | 'INTERRUPTED'
  /** A bug: an error nobody expected. */
  | 'INTERNAL';

/** The exit statuses of `wbx` (README, "The `wbx` command"). */
export const EXIT = {
  /** Everything done, everything valid. */
  ok: 0,
  /** The command ran and what it checked or asked for failed: invalid input, a verification, a refusal. */
  failed: 1,
  /** The command could not run as asked: usage, configuration, local files. */
  usage: 2,
  /** A bug (INTERNAL). */
  internal: 70,
  /** SIGINT (128 + 2). */
  interrupted: 130,
} as const;

type NodeErrorCode = ConfigError['code'] | EmbeddedNatsError['code'] | AgreementsUnavailableError['code'];

/** The codes that exit 2: the CLI's usage and file errors, and the node's configuration and start-up. */
const USAGE_CODES: ReadonlySet<string> = new Set<CliErrorCode | NodeErrorCode>([
  'USAGE',
  'IO',
  'INVALID_CONFIG',
  'MANIFEST_ROLLBACK',
  'MANIFEST_NOT_TRUSTED',
  'MANIFEST_TRUST_STORE',
  'NATS_BINARY_NOT_FOUND',
  'NATS_START_FAILED',
  'AGREEMENTS_DIR_UNREADABLE',
  'REVOCATIONS_UNREADABLE',
]);

/**
 * The exit status for an error's code, the one mapping the CLI has: 2 for usage, configuration and
 * I/O, 130 for INTERRUPTED, 70 for INTERNAL, and 1 for every other code (invalid input, failed
 * verification, a refusal or failure reported by a server).
 */
export function exitStatus(code: string): number {
  if (USAGE_CODES.has(code)) return EXIT.usage;
  if (code === 'INTERRUPTED') return EXIT.interrupted;
  if (code === 'INTERNAL') return EXIT.internal;
  return EXIT.failed;
}

/**
 * An error the CLI reports as one line on stderr, `wbx: <CODE>: <message>`, and ends with the exit
 * status of its code. The code is the CLI's own, or that of the coded error it reports; the message
 * never repeats a code.
 */
export class CliError extends Error {
  readonly code: string;

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions);
  /** Reports a coded error of another package under its own code (e.g. a RegistryError's). */
  constructor(reported: Error & { readonly code: string }, message: string);
  constructor(
    what: CliErrorCode | (Error & { readonly code: string }),
    message: string,
    options?: ErrorOptions,
  ) {
    if (typeof what === 'string') {
      super(message, options);
      this.code = what;
    } else {
      super(message, { cause: what });
      this.code = what.code;
    }
    this.name = new.target.name;
  }

  /** The exit status this error ends `wbx` with. */
  get exitCode(): number {
    return exitStatus(this.code);
  }
}
