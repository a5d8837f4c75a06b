import type { Redis } from 'ioredis';
import { redisClass } from '../redis-client.js';
import type { Logger } from '../logger.js';
import { refilled, type CreditLoader, type CreditCounter, type CreditPlan, type CreditState, type SpendResult } from './credit-counter.js';

// Every script reads the key's hash (r: remaining, p: period, -1 for none), applies refill-if-due
// (ARGV[2]: the current period, ARGV[3]: the refill amount; -1 when the key has no refill) and
// answers {status, remaining, period}. A key Redis does not hold yet takes ARGV[5..6] as its
// state (status 2 when they are empty: read storage and ask again). One script, so each is atomic.
const PROLOGUE = `
local r = redis.call('hget', KEYS[1], 'r')
local p
if not r then
  if ARGV[5] == '' then return {2, 0, 0} end
  r = tonumber(ARGV[5]); p = tonumber(ARGV[6])
else
  r = tonumber(r); p = tonumber(redis.call('hget', KEYS[1], 'p'))
end
local period = tonumber(ARGV[2])
if period >= 0 and p < period then r = tonumber(ARGV[3]); p = period end
`;
const EPILOGUE = `
redis.call('hset', KEYS[1], 'r', r, 'p', p)
redis.call('pexpire', KEYS[1], tonumber(ARGV[4]))
`;

/** ARGV[1]: the cost; refused (status 0) when more than is left, and then nothing but a due refill is written. */
const SPEND = `${PROLOGUE}
local cost = tonumber(ARGV[1])
local allowed = 0
if cost <= r then r = r - cost; allowed = 1 end
${EPILOGUE}
return {allowed, r, p}`;

/** ARGV[1]: the amount to add. */
const GRANT = `${PROLOGUE}
r = r + tonumber(ARGV[1])
${EPILOGUE}
return {1, r, p}`;

type Reply = [number, number, number];

interface CreditCommands {
  creditSpend(key: string, ...args: Array<string | number>): Promise<Reply>;
  creditGrant(key: string, ...args: Array<string | number>): Promise<Reply>;
}

/**
 * Counts that outlive their last use by this long in Redis. The ledger's flushes have long
 * written every spend to storage by then, so a key read again afterwards starts from an exact count.
 */
const IDLE_TTL_MS = 86_400_000;

/**
 * A CREDITS_LOW claim outlives the longest refill period (a month), so it is claimed once per
 * period. A grant's claim may lapse sooner than the grant: by then the count is under the line,
 * and only a new grant (a new claim) takes it back over.
 */
const LOW_ALERT_TTL_MS = 32 * 86_400_000;

export interface RedisCreditCounterOptions {
  url: string;
  prefix: string;
  logger?: Logger;
  /** While Redis cannot be reached: serve (true; the spend is still on the ledger) or refuse. */
  failOpen: boolean;
  timeoutMs?: number;
}

/**
 * The shared counter: one Redis hash per key, every change one Lua script (refill-if-due,
 * check, change), so instances sharing REDIS_URL spend from one count, exactly.
 */
export class RedisCreditCounter implements CreditCounter {
  private readonly client: Redis & CreditCommands;

  constructor(
    private readonly options: RedisCreditCounterOptions,
    private readonly load: CreditLoader,
  ) {
    const timeoutMs = options.timeoutMs ?? 500;
    this.client = new (redisClass())(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: timeoutMs,
      connectTimeout: 2_000,
      lazyConnect: false,
    }) as Redis & CreditCommands;
    this.client.defineCommand('creditSpend', { numberOfKeys: 1, lua: SPEND });
    this.client.defineCommand('creditGrant', { numberOfKeys: 1, lua: GRANT });
    let reported = false;
    this.client.on('error', (error: Error) => {
      if (!reported) options.logger?.warn({ err: error }, 'credit counter cannot reach Redis');
      reported = true;
    });
    this.client.on('ready', () => {
      reported = false;
    });
  }

  async spend(keyId: string, plan: CreditPlan, cost: number): Promise<SpendResult> {
    try {
      const reply = await this.run('creditSpend', keyId, plan, cost);
      return { allowed: reply.status === 1, remaining: reply.state.remaining, period: reply.state.period };
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'credit counter call failed; answering by the outage policy');
      return { allowed: this.options.failOpen, remaining: 0, period: plan.period, degraded: true };
    }
  }

  async grant(keyId: string, plan: CreditPlan, amount: number, stored: CreditState): Promise<CreditState> {
    const reply = await this.client.creditGrant(this.key(keyId), amount, ...this.planArgs(plan), IDLE_TTL_MS, stored.remaining, stored.period ?? -1);
    return stateOf(reply);
  }

  async set(keyId: string, state: CreditState | null): Promise<void> {
    if (!state) await this.client.del(this.key(keyId));
    else await this.client.multi().hset(this.key(keyId), 'r', state.remaining, 'p', state.period ?? -1).pexpire(this.key(keyId), IDLE_TTL_MS).exec();
  }

  async claimLowAlert(keyId: string, occasion: string): Promise<boolean> {
    // SET NX: of all instances, the first to ask for this key and occasion gets it. Out of reach,
    // no alert: a missed one rather than one per instance.
    const reply = await this.client.set(`${this.key(keyId)}:low:${occasion}`, '1', 'PX', LOW_ALERT_TTL_MS, 'NX').catch((error: unknown) => {
      this.options.logger?.warn({ err: error }, 'credit counter could not claim a CREDITS_LOW alert');
      return null;
    });
    return reply === 'OK';
  }

  async peek(keyId: string, plan: CreditPlan): Promise<CreditState | null> {
    // Out of reach, the stored count (a ledger flush behind) answers a read.
    const [r, p] = await this.client.hmget(this.key(keyId), 'r', 'p').catch(() => [null, null]);
    if (r === null || r === undefined) return null;
    return refilled({ remaining: Number(r), period: Number(p) < 0 ? null : Number(p) }, plan);
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /** A script on the key; a key Redis does not hold is read from storage once and the script asked again with it. */
  private async run(command: 'creditSpend', keyId: string, plan: CreditPlan, value: number): Promise<{ status: number; state: CreditState }> {
    const key = this.key(keyId);
    let reply = await this.client[command](key, value, ...this.planArgs(plan), IDLE_TTL_MS, '', '');
    if (reply[0] === 2) {
      const stored = await this.load(keyId);
      // Stored as unlimited after all (the caller's record predates a change): nothing to count.
      if (!stored) return { status: 1, state: { remaining: 0, period: null } };
      reply = await this.client[command](key, value, ...this.planArgs(plan), IDLE_TTL_MS, stored.remaining, stored.period ?? -1);
    }
    return { status: reply[0], state: stateOf(reply) };
  }

  private planArgs(plan: CreditPlan): [number, number] {
    return [plan.period ?? -1, plan.amount ?? -1];
  }

  private key(keyId: string): string {
    return `${this.options.prefix}credits:${keyId}`;
  }
}

function stateOf(reply: Reply): CreditState {
  return { remaining: Number(reply[1]), period: Number(reply[2]) < 0 ? null : Number(reply[2]) };
}
