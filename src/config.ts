import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import proxyaddr from 'proxy-addr';

/**
 * One validated, frozen configuration read from the environment. Anything wrong fails
 * loudly at start, naming the variable, never later at the first request.
 */
export interface Config {
  readonly nodeEnv: string;
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly redisUrl: string | undefined;
  /** Prefix for every Redis key and channel, so several deployments can share one Redis. */
  readonly redisPrefix: string;
  readonly introspection: boolean;
  readonly logLevel: string;
  /** Extra scopes for the catalogue: `name` or `name=description`, comma separated. */
  readonly extraScopes: ReadonlyArray<{ name: string; description: string }>;
  readonly defaultRateLimit: number;
  readonly defaultRateWindowSeconds: number;
  readonly ipRateLimit: number;
  readonly ipRateWindowSeconds: number;
  /** What a request does while the shared (Redis) limiter cannot be reached. */
  readonly limiterFailOpenForKeys: boolean;
  readonly limiterFailOpenForAnonymous: boolean;
  readonly maxBodyBytes: number;
  /** Abuse limits checked before execution (graphql-armor). */
  readonly maxQueryDepth: number;
  readonly maxQueryCost: number;
  readonly maxTokens: number;
  readonly maxAliases: number;
  readonly ledgerFlushMs: number;
  /** Events the ledger may hold unwritten; past it, requests are refused (503) until it drains. */
  readonly ledgerMaxPending: number;
  readonly expirySweepMs: number;
  readonly auditRetentionDays: number;
  /** How often the retention pruning runs (it also runs once shortly after start). */
  readonly auditPruneIntervalMs: number;
  readonly keyCacheSize: number;
  /** While the shared bus (Redis) is down, how long a cached key is trusted before it is read again. */
  readonly keyCacheUnsyncedTtlMs: number;
  /** Outgoing bytes a WebSocket may have queued before it is closed as a slow consumer. */
  readonly wsMaxBufferedBytes: number;
  readonly feedMaxSubscriptionsPerKey: number;
  readonly feedMaxSubscriptionsPerMerchant: number;
  readonly feedReplayEventsPerSecond: number;
  readonly auditRefusalWindowSeconds: number;
  readonly console: boolean;
  /**
   * Which peers may name the client in `X-Forwarded-For`: `false` (none: the socket address is
   * the client), a hop count (that many proxies in front, whoever they are), or a list of
   * trusted addresses, CIDRs and proxy-addr's names (`loopback`, `linklocal`, `uniquelocal`).
   */
  readonly trustProxy: TrustProxy;
  /** Seconds a client may take to send a request's headers, and its whole request. */
  readonly headersTimeoutSeconds: number;
  readonly requestTimeoutSeconds: number;
  /** Seconds an idle keep-alive connection is kept open. */
  readonly keepAliveTimeoutSeconds: number;
  /** Open connections (WebSockets included) past which new ones are dropped at once; below the descriptor limit. */
  readonly maxConnections: number;
  /** Open connections and WebSockets per client address (IPv6 per /64). */
  readonly maxConnectionsPerIp: number;
  /** Windows the in-process rate limiter keeps per (limit, window) pair before dropping the oldest. */
  readonly limiterMaxKeys: number;
  /** Bearer token /metrics requires (compared in constant time); none when unset. */
  readonly metricsToken: string | undefined;
  /** When set, /metrics is served on this listener only, not on the API port. */
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  readonly batchRequests: boolean;
  readonly shutdownGraceMs: number;
  /** Seconds before a key's expiresAt at which its one KEY_EXPIRING event is written. */
  readonly keyExpiryNoticeSeconds: number;
  /** ECDSA P-256 public keys whose signatures POST /leaks accepts; empty: /leaks is off (404). */
  readonly leakReportPublicKeys: readonly KeyObject[];
  /** What a reported leak does to a key: revoke it for good, or disable it. */
  readonly leakedKeyAction: 'revoke' | 'disable';
  readonly webhooks: WebhookConfig;
}

/** Outbound webhook delivery (CONTRACT §9.2). */
export interface WebhookConfig {
  /** Accept `http://` endpoint URLs (https only otherwise). */
  readonly allowHttp: boolean;
  /** Accept endpoints on loopback, private, link-local and metadata addresses. */
  readonly allowPrivate: boolean;
  /** Calls in flight to one endpoint (Bottleneck maxConcurrent). */
  readonly maxConcurrent: number;
  /** Milliseconds between the starts of two calls to one endpoint (Bottleneck minTime). */
  readonly minIntervalMs: number;
  /** Waits before each retry of a failed delivery; the last one repeats. */
  readonly retryScheduleMs: readonly number[];
  /** How long an endpoint may keep failing before it is disabled. */
  readonly disableAfterMs: number;
  /** A call that has not answered 2xx by then has failed. */
  readonly timeoutMs: number;
  /** How long an instance's claim on an endpoint lasts unless renewed (another takes over after it). */
  readonly leaseMs: number;
  /** How often each instance looks for endpoints to deliver and renews its leases. */
  readonly pollMs: number;
  /** Delivery attempts kept per endpoint (older ones are deleted). */
  readonly deliveriesKept: number;
  /** The AES-256 key that encrypts signing secrets at rest (32 bytes, base64); else read from (or created in) `secretKeyFile`. */
  readonly secretKey: Buffer | undefined;
  readonly secretKeyFile: string;
}

/** See Config.trustProxy. */
export type TrustProxy = false | number | readonly string[];

type Env = Record<string, string | undefined>;

class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false (got "${raw}")`);
}

/**
 * TRUST_PROXY: `false`/`0`/unset trusts no proxy; `true` is one hop (the direct peer, and only it,
 * may name the client: `true` never means "believe the leftmost entry the client wrote"); a
 * number is a hop count; anything else is a comma-separated list proxy-addr's compile() accepts.
 */
function trustProxy(env: Env): TrustProxy {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (raw === '' || /^(false|no|off)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) return 1;
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops > 32) throw new ConfigError('TRUST_PROXY', `hop count must be at most 32 (got "${raw}")`);
    return hops === 0 ? false : hops;
  }
  const list = Object.freeze(raw.split(',').map((part) => part.trim()).filter(Boolean));
  try {
    proxyaddr.compile([...list]);
  } catch (error) {
    throw new ConfigError('TRUST_PROXY', `must be true, false, a hop count or a list of addresses, CIDRs, loopback, linklocal or uniquelocal (${(error as Error).message})`);
  }
  return list;
}

/** The soft limit on open file descriptors (Linux), or undefined where it cannot be read. */
export function descriptorLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!line) return undefined;
    return line[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(line[1]);
  } catch {
    return undefined;
  }
}

/** 80 % of the descriptor limit (the rest for the database, Redis, logs), at most 10,000; 1,000 where the limit is unknown. */
function defaultMaxConnections(): number {
  const limit = descriptorLimit();
  return limit === undefined ? 1_000 : Math.max(1, Math.min(10_000, Math.floor(limit * 0.8)));
}

/** WEBHOOK_RETRY_SCHEDULE: comma-separated milliseconds, e.g. `5000,30000,120000,600000,3600000`. */
function retrySchedule(env: Env): number[] {
  const raw = env.WEBHOOK_RETRY_SCHEDULE;
  if (!raw) return [5_000, 30_000, 120_000, 600_000, 3_600_000];
  const steps = raw.split(',').map((part) => Number(part.trim()));
  if (steps.length > 50 || steps.some((step) => !Number.isInteger(step) || step < 0 || step > 86_400_000)) {
    throw new ConfigError('WEBHOOK_RETRY_SCHEDULE', `must be 1 to 50 comma-separated integers of milliseconds from 0 to 86400000 (got "${raw}")`);
  }
  return steps;
}

function webhookSecretKey(env: Env): Buffer | undefined {
  const raw = env.WEBHOOK_SECRET_KEY;
  if (!raw) return undefined;
  const key = Buffer.from(raw, 'base64');
  // The value itself is never echoed: it is a secret.
  if (key.length !== 32) throw new ConfigError('WEBHOOK_SECRET_KEY', 'must be 32 bytes in base64 (openssl rand -base64 32)');
  return key;
}

function webhookConfig(env: Env, databaseUrl: string): WebhookConfig {
  const leaseMs = int(env, 'WEBHOOK_LEASE_MS', 15_000, 300, 600_000);
  const pollMs = int(env, 'WEBHOOK_POLL_MS', 1_000, 50, 60_000);
  // Renewed on every poll: three polls fit in a lease, so one slow poll does not lose it.
  if (pollMs * 3 > leaseMs) throw new ConfigError('WEBHOOK_POLL_MS', `must be at most a third of WEBHOOK_LEASE_MS (${leaseMs})`);
  const sqliteDir = databaseUrl.startsWith('sqlite:') ? dirname(databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') || './data/keyring.db') : './data';
  return Object.freeze({
    allowHttp: bool(env, 'WEBHOOK_ALLOW_HTTP', false),
    allowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE', false),
    maxConcurrent: int(env, 'WEBHOOK_MAX_CONCURRENT', 1, 1, 100),
    minIntervalMs: int(env, 'WEBHOOK_MIN_INTERVAL_MS', 0, 0, 3_600_000),
    retryScheduleMs: Object.freeze(retrySchedule(env)),
    disableAfterMs: int(env, 'WEBHOOK_DISABLE_AFTER_MS', 86_400_000, 0, 31 * 86_400_000),
    timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
    leaseMs,
    pollMs,
    deliveriesKept: int(env, 'WEBHOOK_DELIVERIES_KEPT', 100, 1, 10_000),
    secretKey: webhookSecretKey(env),
    secretKeyFile: resolve(env.WEBHOOK_SECRET_KEY_FILE || join(sqliteDir, 'webhook-secret.key')),
  });
}

function metricsToken(env: Env): string | undefined {
  const token = env.METRICS_TOKEN || undefined;
  if (token !== undefined && !/^[\x21-\x7e]{16,256}$/.test(token)) {
    // The value itself is never echoed: it is a secret.
    throw new ConfigError('METRICS_TOKEN', 'must be 16 to 256 printable characters without spaces');
  }
  return token;
}

const SCOPE_NAME = /^[a-z][a-z0-9_-]*([.:][a-z0-9_-]+)*$/i;

function scopes(env: Env): Array<{ name: string; description: string }> {
  const raw = env.KEYRING_SCOPES ?? '';
  return raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, ...rest] = part.split('=');
      const scope = name!.trim();
      if (!SCOPE_NAME.test(scope) || scope.length > 64) {
        throw new ConfigError('KEYRING_SCOPES', `has an invalid scope name "${scope}"`);
      }
      return { name: scope, description: rest.join('=').trim() || `Custom scope ${scope}.` };
    });
}

/** At most this many keys in LEAK_REPORT_PUBLIC_KEYS: each unsigned request is tried against every one. */
const MAX_LEAK_REPORT_KEYS = 10;
const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;

/**
 * LEAK_REPORT_PUBLIC_KEYS: PEM text (one or more `PUBLIC KEY` blocks; a literal `\n` reads as a
 * line break, as env files often write it), or comma-separated paths of files holding such
 * blocks. Each must be an ECDSA P-256 public key.
 */
function leakReportPublicKeys(env: Env): KeyObject[] {
  const raw = (env.LEAK_REPORT_PUBLIC_KEYS ?? '').trim();
  if (raw === '') return [];
  const name = 'LEAK_REPORT_PUBLIC_KEYS';
  let text: string;
  if (raw.includes('-----BEGIN')) {
    text = raw.replaceAll('\\n', '\n');
  } else {
    text = raw
      .split(',')
      .map((path) => path.trim())
      .filter(Boolean)
      .map((path) => {
        try {
          return readFileSync(path, 'utf8');
        } catch (error) {
          throw new ConfigError(name, `names a file that cannot be read: ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        }
      })
      .join('\n');
  }
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new ConfigError(name, 'must be PEM text or files holding "-----BEGIN PUBLIC KEY-----" blocks');
  if (blocks.length > MAX_LEAK_REPORT_KEYS) throw new ConfigError(name, `names ${blocks.length} keys; at most ${MAX_LEAK_REPORT_KEYS}`);
  return blocks.map((block, i) => {
    let key: KeyObject;
    try {
      key = createPublicKey(block);
    } catch (error) {
      throw new ConfigError(name, `key ${i + 1} is not a valid PEM public key (${(error as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new ConfigError(name, `key ${i + 1} must be an ECDSA P-256 public key`);
    }
    return key;
  });
}

function leakedKeyAction(env: Env): 'revoke' | 'disable' {
  const raw = (env.LEAKED_KEY_ACTION ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'revoke') return 'revoke';
  if (raw === 'disable') return 'disable';
  throw new ConfigError('LEAKED_KEY_ACTION', `must be revoke or disable (got "${env.LEAKED_KEY_ACTION}")`);
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  const production = nodeEnv === 'production';
  const databaseUrl = env.DATABASE_URL || 'sqlite:./data/keyring.db';
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must start with sqlite: or postgres://');
  }
  if (/^sqlite:(\/\/)?:memory:$/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must name a SQLite file, not :memory: (the audit ledger writes to it from a thread of its own)');
  }
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL', 'must start with redis:// or rediss://');
  }
  const headersTimeoutSeconds = int(env, 'HTTP_HEADERS_TIMEOUT_SECONDS', 10, 1, 3_600);
  const requestTimeoutSeconds = int(env, 'HTTP_REQUEST_TIMEOUT_SECONDS', 30, 1, 3_600);
  if (requestTimeoutSeconds < headersTimeoutSeconds) {
    // Node refuses a headers timeout longer than the request timeout.
    throw new ConfigError('HTTP_REQUEST_TIMEOUT_SECONDS', `must be at least HTTP_HEADERS_TIMEOUT_SECONDS (${headersTimeoutSeconds})`);
  }
  const config: Config = {
    nodeEnv,
    production,
    port: int(env, 'PORT', 4000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    databaseUrl,
    redisUrl,
    redisPrefix: env.REDIS_PREFIX || 'keyring:',
    introspection: bool(env, 'INTROSPECTION', !production),
    logLevel: env.LOG_LEVEL || (nodeEnv === 'test' ? 'warn' : 'info'),
    extraScopes: scopes(env),
    defaultRateLimit: int(env, 'RATE_LIMIT', 30, 1, 100_000),
    defaultRateWindowSeconds: int(env, 'RATE_WINDOW_SECONDS', 60, 1, 86_400),
    ipRateLimit: int(env, 'IP_RATE_LIMIT', 30, 1, 1_000_000),
    ipRateWindowSeconds: int(env, 'IP_RATE_WINDOW_SECONDS', 60, 1, 86_400),
    limiterFailOpenForKeys: bool(env, 'LIMITER_FAIL_OPEN_KEYS', true),
    limiterFailOpenForAnonymous: bool(env, 'LIMITER_FAIL_OPEN_ANONYMOUS', false),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 100_000, 1_000, 10_000_000),
    maxQueryDepth: int(env, 'MAX_QUERY_DEPTH', 10, 1, 100),
    maxQueryCost: int(env, 'MAX_QUERY_COST', 5_000, 10, 1_000_000),
    maxTokens: int(env, 'MAX_TOKENS', 2_000, 50, 100_000),
    maxAliases: int(env, 'MAX_ALIASES', 15, 1, 1_000),
    ledgerFlushMs: int(env, 'LEDGER_FLUSH_MS', 50, 1, 10_000),
    ledgerMaxPending: int(env, 'LEDGER_MAX_PENDING', 100_000, 1, 10_000_000),
    expirySweepMs: int(env, 'EXPIRY_SWEEP_MS', 250, 10, 60_000),
    auditRetentionDays: int(env, 'AUDIT_RETENTION_DAYS', 90, 1, 36_500),
    auditPruneIntervalMs: int(env, 'AUDIT_PRUNE_INTERVAL_MS', 3_600_000, 1_000, 86_400_000),
    keyCacheSize: int(env, 'KEY_CACHE_SIZE', 100_000, 1, 10_000_000),
    keyCacheUnsyncedTtlMs: int(env, 'KEY_CACHE_UNSYNCED_TTL_MS', 1_000, 0, 3_600_000),
    wsMaxBufferedBytes: int(env, 'WS_MAX_BUFFERED_BYTES', 1_048_576, 1_024, 1_073_741_824),
    feedMaxSubscriptionsPerKey: int(env, 'FEED_MAX_SUBSCRIPTIONS_PER_KEY', 10, 1, 10_000),
    feedMaxSubscriptionsPerMerchant: int(env, 'FEED_MAX_SUBSCRIPTIONS_PER_MERCHANT', 50, 1, 100_000),
    feedReplayEventsPerSecond: int(env, 'FEED_REPLAY_EVENTS_PER_SECOND', 5_000, 10, 10_000_000),
    auditRefusalWindowSeconds: int(env, 'AUDIT_REFUSAL_WINDOW_SECONDS', 60, 0, 3_600),
    console: bool(env, 'CONSOLE', !production),
    trustProxy: trustProxy(env),
    headersTimeoutSeconds,
    requestTimeoutSeconds,
    keepAliveTimeoutSeconds: int(env, 'HTTP_KEEP_ALIVE_TIMEOUT_SECONDS', 5, 1, 3_600),
    maxConnections: int(env, 'MAX_CONNECTIONS', defaultMaxConnections(), 1, 1_000_000),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', 256, 1, 1_000_000),
    limiterMaxKeys: int(env, 'LIMITER_MAX_KEYS', 50_000, 100, 10_000_000),
    metricsToken: metricsToken(env),
    metricsPort: env.METRICS_PORT ? int(env, 'METRICS_PORT', 0, 0, 65535) : undefined,
    metricsHost: env.METRICS_HOST || '127.0.0.1',
    batchRequests: bool(env, 'BATCH_REQUESTS', false),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    keyExpiryNoticeSeconds: int(env, 'KEY_EXPIRY_NOTICE_SECONDS', 7 * 86_400, 0, 366 * 86_400),
    leakReportPublicKeys: Object.freeze(leakReportPublicKeys(env)),
    leakedKeyAction: leakedKeyAction(env),
    webhooks: webhookConfig(env, databaseUrl),
  };
  return Object.freeze(config);
}
