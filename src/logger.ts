import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Key material that must never reach a log line, whatever field it hides in. */
const KEY_PATTERN = /\b(sk|pk|tk)_(live|test)_[0-9A-Za-z]{38}\b/g;

export function redactKeys(text: string): string {
  return text.replace(KEY_PATTERN, (_m, kind: string, env: string) => `${kind}_${env}_[REDACTED]`);
}

/**
 * JSON logs with pino. Credentials are redacted by path, and every serialized line is
 * scrubbed of anything shaped like a key as a second line of defence.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const sink: DestinationStream = destination ?? pino.destination({ dest: 1, sync: false });
  const scrubbing: DestinationStream = {
    write(line: string) {
      sink.write(redactKeys(line));
    },
  };
  return pino(
    {
      level,
      base: { service: 'keyring' },
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]', 'secret', 'key', 'apiKey'],
        censor: '[REDACTED]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    scrubbing,
  );
}
