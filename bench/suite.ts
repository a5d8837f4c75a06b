import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

/** One line of the report. */
export interface BenchResult {
  name: string;
  requestsPerSecond?: number;
  p99Ms?: number;
  /** Requests per second over the bare Apollo baseline's (run.ts fills it when a suite did not). */
  ratio?: number;
  /** Server CPU time per answered request. */
  cpuMicrosPerRequest?: number;
  /** The least share of the bare Apollo baseline's requests per second this line must reach. */
  minRatio?: number;
  /** Pass/fail of a target this line is measured against, with what was expected. */
  target?: { ok: boolean; description: string };
  note?: string;
}

export interface BenchContext {
  durationSeconds: number;
  connections: number;
  /** The command-line arguments after `npm run bench --`. */
  args: readonly string[];
  log(message: string): void;
  /**
   * Measures the bare Apollo baseline again, for ratios taken side by side with a case, so
   * that a machine shared with other work skews both alike. Set by the baselines suite.
   */
  baseline?: (durationSeconds: number) => Promise<Measured & { cpuMicrosPerRequest: number }>;
  /** Steps run once every suite has finished (servers kept for later suites). */
  atExit: Array<() => Promise<void>>;
}

/**
 * A group of cases in its own file, `bench/<name>.suite.ts`; run.ts finds every such file.
 * `optIn` suites only run when their flag is given (`npm run bench -- --scale`).
 */
export interface BenchSuite {
  name: string;
  /** Lower runs first; the baselines are 0, keyring's own cases 10. */
  order: number;
  optIn?: string;
  run(context: BenchContext): Promise<BenchResult[]>;
}

export interface Measured {
  requestsPerSecond: number;
  p99Ms: number;
  /** Mean latency: at a fixed number of connections at most connections ÷ requests per second (Little's law), equal when the server is the bottleneck. */
  meanMs: number;
  total: number;
  statusCounts: Record<string, number>;
  errors: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationSeconds: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /**
   * Requests that differ (another key, another body), taken in turn across all connections (one
   * shared counter, so the connections hold different ones at any moment). Each is merged over
   * headers and body before the run, so per request the load generator (which shares the machine's
   * cores with the server) only picks the next one and serialises it, as close to a baseline's
   * single prebuilt request as autocannon allows.
   */
  turns?: Array<Pick<autocannon.Request, 'headers' | 'body'>>;
}

function inTurn(options: LoadOptions): (request: autocannon.Request) => autocannon.Request {
  const turns = options.turns!.map((turn) => ({
    headers: { ...options.headers, ...turn.headers },
    body: Buffer.from(turn.body ?? options.body ?? ''),
  }));
  let next = 0;
  return (request) => {
    const turn = turns[next++ % turns.length]!;
    request.headers = turn.headers;
    request.body = turn.body;
    return request;
  };
}

/** Runs autocannon against 127.0.0.1 only, for a bounded time. */
export async function load(options: LoadOptions): Promise<Measured> {
  const url = new URL(options.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`benchmarks only target 127.0.0.1, not ${url.hostname}`);
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    method: options.method ?? 'POST',
    headers: options.headers,
    body: options.body,
    requests: options.turns ? [{ setupRequest: inTurn(options) }] : undefined,
    timeout: 10,
  });
  const statusCounts: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCounts[code] = stats?.count ?? 0;
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    meanMs: result.latency.mean,
    total: result.requests.total,
    statusCounts,
    errors: result.errors,
  };
}

/** A server started in its own process, so the load generator does not share its event loop. */
export interface ChildServer<T> {
  info: T & { url: string };
  /** CPU time the server process has used so far, in microseconds (user + system). */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `bench/servers.ts <kind>` (or another script of bench/) in a child process and waits for its `ready` message. */
export function startChild<T>(kind: string, options: Record<string, unknown> = {}, scriptName = 'servers.js'): Promise<ChildServer<T>> {
  const script = fileURLToPath(new URL(`./${scriptName}`, import.meta.url));
  // BENCH_PROFILE=dir writes a CPU profile of each server process there (open it in Chrome DevTools).
  const execArgv = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // Standard output goes to /dev/null: keyring writes its log lines there as in production.
  const child: ChildProcess = fork(script, [kind, JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench server "${kind}" exited with ${code} before it was ready`)));
    child.once('message', (message) => {
      child.removeAllListeners('exit');
      const stop = () =>
        new Promise<void>((done) => {
          child.once('exit', () => done());
          child.send({ stop: true });
        });
      const cpuMicros = () =>
        new Promise<number>((done) => {
          child.once('message', (reply: { cpu?: number }) => done(reply.cpu ?? NaN));
          child.send({ cpu: true });
        });
      resolve({ info: message as T & { url: string }, cpuMicros, stop });
    });
  });
}

/**
 * Loads a child server and also reports the server's CPU time per answered request, a figure
 * that stays meaningful when other processes share the machine (requests per second do not).
 */
export async function loadChild(server: ChildServer<unknown>, options: Omit<LoadOptions, 'url'> & { path?: string }): Promise<Measured & { cpuMicrosPerRequest: number }> {
  const before = await server.cpuMicros();
  const measured = await load({ ...options, url: `${server.info.url}${options.path ?? ''}` });
  const used = (await server.cpuMicros()) - before;
  return { ...measured, cpuMicrosPerRequest: measured.total ? used / measured.total : NaN };
}

export const round = (value: number, digits = 0) => Number(value.toFixed(digits));

/** The middle value (the upper one of an even count). */
export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
