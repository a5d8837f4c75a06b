import type { App } from './app.js';

/**
 * The service process's own handling: SIGTERM/SIGINT stop it gracefully (exit 0), and the two
 * last-resort events keep their promises to "nothing is lost" and "the process stays up":
 * - an unhandled rejection (a promise nobody waited for, often a library's) is logged and the
 *   service goes on serving: nothing it holds was left half-changed by a promise no one awaited;
 * - an uncaught exception may have left any state half-changed, so the service stops as on
 *   SIGTERM (in-flight requests finish, buffered audit events are written) and exits 1, for
 *   the process manager to start it again, instead of dying with its events in memory.
 */
export function handleProcessEvents(app: App, exit: (code: number) => void = (code) => process.exit(code)): void {
  let stopping = false;
  const stop = (code: number, why: Record<string, unknown>) => {
    if (stopping) return;
    stopping = true;
    app.logger.info(why, 'shutting down');
    app.stop().then(
      () => exit(code),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(0, { signal }));
  process.on('unhandledRejection', (reason) => {
    app.logger.error({ err: reason }, 'unhandled promise rejection; still serving');
  });
  process.on('uncaughtException', (error) => {
    app.logger.fatal({ err: error }, 'uncaught exception; stopping gracefully');
    stop(1, { reason: 'uncaught exception' });
  });
}
