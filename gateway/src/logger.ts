import { pino, type Logger } from 'pino';

/**
 * JSON logs on stderr (stdout carries the gateway's ready line and CLI output). Event contents never
 * belong in a log; as a second line of defence, personal and token fields are redacted wherever they
 * appear.
 */
export function createLogger(level: string, partner: string): Logger {
  return pino(
    {
      level,
      base: { partner },
      redact: {
        paths: [
          'event',
          'token',
          'presentation',
          '*.event',
          '*.token',
          '*.presentation',
          '*.subjectRef',
          '*.persons',
          '*.person',
          'subjectRef',
          'persons',
          'person',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
