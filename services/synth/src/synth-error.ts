/** Stable codes of synth errors. */
export type SynthErrorCode =
  /** An option is missing or out of range (unknown partner, bad count, empty or early window). */
  'INVALID_OPTIONS';

export class SynthError extends Error {
  constructor(
    readonly code: SynthErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
