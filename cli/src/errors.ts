export type CliErrorCode = 'USAGE' | 'IO' | 'INVALID_INPUT';

/** An error the CLI reports as one line to stderr, with a stable code and an exit status. */
export class CliError extends Error {
  constructor(
    readonly code: CliErrorCode,
    message: string,
    readonly exitCode = code === 'USAGE' ? 2 : 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
