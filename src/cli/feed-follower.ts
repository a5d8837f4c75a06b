import { setTimeout as sleep } from 'node:timers/promises';
import { CloseCode, compareIds, FATAL_CLOSE_CODES } from '../protocol.js';
import { CliError, ExitCode, inFlagTerms, problemsOf, type FlagsByField } from './cli-io.js';
import type { FeedEvent } from './event-line.js';
import { followOnce, type AttemptEnd, type FeedFilter, type GraphQLProblem } from './feed-attempt.js';

/** Reconnection delays: doubling from BASE, capped at CAP, each with jitter (half to all of it). */
const BASE_DELAY_MS = 250;
const CAP_DELAY_MS = 15_000;
/** A connection that lasted this long, or delivered anything, was healthy: backoff starts over. */
const HEALTHY_AFTER_MS = 10_000;

/** What the operator is told when the service closes with a code after which reconnecting cannot help (FATAL_CLOSE_CODES). */
const FATAL_CLOSES: Record<number, string> = {
  [CloseCode.Unauthorized]: `The service refused the key (${CloseCode.Unauthorized}): it is unknown, malformed, disabled, revoked or expired. Check KEYRING_API_KEY or --key-file.`,
  [CloseCode.Forbidden]: `The key tail uses was disabled, revoked or has expired (${CloseCode.Forbidden}); stopping.`,
  [CloseCode.BadRequest]: `The service rejected the subscription as a bad request (${CloseCode.BadRequest}).`,
  [CloseCode.SubprotocolNotAcceptable]: `The service does not speak graphql-transport-ws (${CloseCode.SubprotocolNotAcceptable}). Is KEYRING_URL the keyring GraphQL endpoint?`,
};

const CLOSE_NAMES: Record<number, string> = {
  [CloseCode.Normal]: 'closed by the server',
  [CloseCode.GoingAway]: 'the service is shutting down',
  [CloseCode.Abnormal]: 'connection lost',
  [CloseCode.TryAgainLater]: 'the service cannot record requests right now (its audit ledger is not taking writes)',
  [CloseCode.SlowConsumer]: 'too slow to read the feed',
  [CloseCode.TooManyRequests]: 'too many failed credentials from this address',
  [CloseCode.Terminated]: 'no answer to a ping',
};

export interface FollowOptions {
  wsUrl: string;
  apiKey: string;
  filter: FeedFilter;
  /** Events after this id come first (a resume point); null for live events only. */
  after: string | null;
  onEvent(event: FeedEvent): void;
  /** Diagnostics for the operator (stderr). */
  notice(text: string): void;
  /** Aborted on Ctrl-C or SIGTERM: follow() then resolves. */
  signal: AbortSignal;
  random?: () => number;
}

/**
 * Follows the feed until `signal` is aborted, reconnecting with backoff after anything but a
 * refusal. Every reconnection resumes after the last event passed to onEvent, so across
 * reconnects no event is missed and none is repeated (an id at or below the last one is
 * dropped, should the service ever send one). Throws a CliError when it must stop.
 */
export async function follow(options: FollowOptions): Promise<void> {
  const random = options.random ?? Math.random;
  let after = options.after;
  let failures = 0;
  let delivered = false;
  const onEvent = (event: FeedEvent) => {
    if (after !== null && compareIds(event.id, after) <= 0) return;
    after = event.id;
    delivered = true;
    options.onEvent(event);
  };
  for (;;) {
    delivered = false;
    const from = () => (after === null ? 'live events' : `events after #${after}`);
    const onConnected = () => options.notice(`${failures === 0 ? 'connected' : 'reconnected'}, following ${from()}.`);
    const { end, connected, upMs } = await followOnce({ ...options, after, onEvent, onConnected });
    if (end.kind === 'stopped' || options.signal.aborted) return;
    stopIfFatal(end);
    failures = delivered || upMs >= HEALTHY_AFTER_MS ? 1 : failures + 1;
    const delayMs = retryAfterOf(end) ?? backoffMs(failures, random);
    options.notice(`${describe(end, connected)}; reconnecting in ${(delayMs / 1000).toFixed(1)} s.`);
    try {
      await sleep(delayMs, undefined, { signal: options.signal });
    } catch {
      return; // aborted while waiting
    }
  }
}

/** The wait before attempt `failures + 1`: doubling from BASE, capped at CAP, with jitter (half to all of it). */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(CAP_DELAY_MS, BASE_DELAY_MS * 2 ** (failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function stopIfFatal(end: AttemptEnd): void {
  if (end.kind === 'closed' && FATAL_CLOSE_CODES.includes(end.code)) {
    throw new CliError([FATAL_CLOSES[end.code] ?? `The service closed the connection with ${end.code}; reconnecting cannot help.`], ExitCode.FAILED);
  }
  if (end.kind !== 'errors') return;
  const first = end.errors[0];
  const code = first?.extensions?.code;
  if (code === undefined || TRANSIENT_CODES.has(code)) return;
  const problems = problemsOf(first ?? { message: 'refused' }).map((problem) => inFlagTerms(problem, FLAGS));
  if (code === 'FORBIDDEN') problems.push('tail needs a key with audit:read; a key other than admin follows its own merchant only.');
  if (code === 'UNAUTHENTICATED') problems.push('Check the key in KEYRING_API_KEY or --key-file.');
  throw new CliError(problems, code === 'BAD_USER_INPUT' ? ExitCode.USAGE : ExitCode.FAILED, code);
}

/** The subscription's arguments, by the tail flag that sets each. */
const FLAGS: FlagsByField = { types: '--types', keyId: '--key', merchantId: '--merchant', after: '--after' };

/** Codes after which trying again later can help (RATE_LIMITED and SERVICE_UNAVAILABLE say when). */
const TRANSIENT_CODES = new Set(['RATE_LIMITED', 'SERVICE_UNAVAILABLE', 'INTERNAL_SERVER_ERROR']);

function retryAfterOf(end: AttemptEnd): number | undefined {
  if (end.kind !== 'errors') return undefined;
  const problem: GraphQLProblem | undefined = end.errors.find((error) => typeof error.extensions?.retryAfter === 'number');
  const seconds = problem?.extensions?.retryAfter;
  return typeof seconds === 'number' && seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
}

function describe(end: AttemptEnd, connected: boolean): string {
  switch (end.kind) {
    case 'closed':
      return `connection closed (${end.code} ${CLOSE_NAMES[end.code] ?? (end.reason || 'no reason given')})`;
    case 'failed':
      return connected ? `connection failed (${end.message})` : `cannot connect (${end.message})`;
    case 'errors':
      return `the service answered ${end.errors[0]?.extensions?.code ?? 'an error'}: ${end.errors[0]?.message ?? ''}`.trimEnd();
    default:
      return 'the service ended the subscription';
  }
}
