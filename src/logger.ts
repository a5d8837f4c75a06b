import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Key material that must never reach a log line, whatever field it hides in. */
const KEY_PATTERN = /\b(sk|pk|tk)_(live|test)_[0-9A-Za-z]{38}\b/g;

export function redactKeys(text: string): string {
  // Every key has `_live_` or `_test_` in it; most lines have neither, and a substring search is cheaper than the pattern.
  if (!text.includes('_live_') && !text.includes('_test_')) return text;
  return text.replace(KEY_PATTERN, (_m, kind: string, env: string) => `${kind}_${env}_[REDACTED]`);
}

/**
 * JSON logs with pino. Credentials are redacted by path, and every serialized line is
 * scrubbed of anything shaped like a key as a second line of defence.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  let sink: DestinationStream & { flush?: (cb?: (err?: Error) => unknown) => void } | undefined = destination;
  if (!sink) {
    // One write per line is one system call per request; lines are buffered up to 4 KiB and
    // flushed at least every 250 ms (and at exit, and by logger.flush() on shutdown).
    const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    setInterval(() => stdout.flush(), 250).unref();
    sink = stdout;
  }
  const target = sink;
  const scrubbing = {
    write(line: string) {
      target.write(redactKeys(line));
    },
    flush(cb?: (err?: Error) => unknown) {
      if (target.flush) target.flush(cb);
      else cb?.();
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
      // Epoch milliseconds (pino's default, and a third of an ISO string's cost on every line).
      timestamp: pino.stdTimeFunctions.epochTime,
    },
    scrubbing,
  );
}
