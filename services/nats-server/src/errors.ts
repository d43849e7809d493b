/** Stable codes for launcher failures. Tests assert these, never the message text. */
export type NatsServerErrorCode =
  /** The `nats-server` executable was not found. */
  | 'NATS_BINARY_NOT_FOUND'
  /** The process could not be spawned, or it exited before it was ready (bad config, port in use, …). */
  | 'NATS_START_FAILED'
  /** The process did not write its ports file or accept a TCP connection in time. */
  | 'NATS_START_TIMEOUT';

/** A failure to start a `nats-server` process; the message ends with the tail of the server's output. */
export class NatsServerError extends Error {
  constructor(
    readonly code: NatsServerErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
