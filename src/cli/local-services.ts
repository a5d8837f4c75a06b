import { pino } from 'pino';
import { AccessPolicy } from '../auth/access-policy.js';
import { systemActor, type SystemActor } from '../auth/principal.js';
import { createEventBus } from '../audit/redis-event-bus.js';
import { Ledger } from '../audit/ledger.js';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/orm.js';
import { KeyTransaction } from '../keys/key-transaction.js';
import { KeysService } from '../keys/keys.service.js';
import { ScopeCatalogue } from '../keys/scopes.js';
import { createLogger } from '../logger.js';

/** The operator at the terminal: the system actor (no key, full rights); every event it causes says so. */
export const CLI_ACTOR: SystemActor = systemActor({ via: 'cli' });

export interface LocalServices {
  keys: KeysService;
  catalogue: ScopeCatalogue;
}

/**
 * Runs `work` against the database named by DATABASE_URL (default sqlite:./data/keyring.db),
 * through the same KeysService the server uses, then flushes the ledger and closes the
 * database, so no event is lost when the process exits. Logs go to stderr only.
 */
export async function withLocalServices<T>(env: Record<string, string | undefined>, work: (services: LocalServices) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...env, LOG_LEVEL: env.LOG_LEVEL || 'warn' });
  const logger = createLogger(config.logLevel, pino.destination({ dest: 2, sync: true }));
  const db = await openDatabase(config.databaseUrl);
  // With REDIS_URL, the running instances hear of what the CLI changed at once.
  const bus = createEventBus(config, logger);
  const ledger = new Ledger(db, bus, logger, config.ledgerFlushMs, config.ledgerMaxPending);
  try {
    const catalogue = new ScopeCatalogue(config.extraScopes);
    const keys = new KeysService(new KeyTransaction(db, ledger, bus), new AccessPolicy(ledger), catalogue, {
      defaultRateLimit: config.defaultRateLimit,
      defaultRateWindowSeconds: config.defaultRateWindowSeconds,
    });
    return await work({ keys, catalogue });
  } finally {
    try {
      await ledger.stop();
    } finally {
      await bus.close();
      await db.close();
    }
  }
}
