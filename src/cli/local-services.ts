import { pino } from 'pino';
import { systemActor, type SystemActor } from '../auth/principal.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { compose, type KeyServices } from '../server/compose.js';

/** The operator at the terminal: the system actor (no key, full rights); every event it causes says so. */
export const CLI_ACTOR: SystemActor = systemActor({ via: 'cli' });

export type LocalServices = Pick<KeyServices, 'keys' | 'catalogue'>;

/**
 * Runs `work` against the database named by DATABASE_URL (default sqlite:./data/keyring.db),
 * through the same wiring as the server (compose(), key services only), then flushes the
 * ledger and closes the database, so no event is lost when the process exits. Logs go to stderr only.
 */
export async function withLocalServices<T>(env: Record<string, string | undefined>, work: (services: LocalServices) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...env, LOG_LEVEL: env.LOG_LEVEL || 'warn' });
  const logger = createLogger(config.logLevel, pino.destination({ dest: 2, sync: true }));
  const { services, shutdown } = await compose(config, logger, { only: 'keys' });
  let result: T;
  try {
    result = await work(services);
  } finally {
    // Events the ledger could not write are an error of the command, not only a log line.
    const [failure] = await shutdown.run();
    if (failure) throw failure;
  }
  return result;
}
