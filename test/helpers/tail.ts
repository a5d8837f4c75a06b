import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './server.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface TailProcess {
  child: ChildProcess;
  /** Complete stdout lines so far. */
  lines: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** stdout lines parsed as JSON (for --json). */
  events(): Array<{ id: string; type: string; [field: string]: unknown }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until a stdout line matches; the error names what was seen instead. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * `keys tail …` from the built CLI (dist/, made by test/global-setup.ts) as a real process
 * on the project's Node, with only the environment given (plus PATH), read as it runs.
 */
export function spawnTail(args: readonly string[], env: Record<string, string>): TailProcess {
  return follow(spawn(process.execPath, [CLI, 'tail', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
}

/**
 * `npm run --silent keys -- tail …` exactly as the README shows it, in a process group of its
 * own (so that `groupAlive()` can tell whether anything it started is still running).
 */
export function spawnNpmTail(args: readonly string[], env: Record<string, string>): TailProcess & { groupAlive(): boolean } {
  const child = spawn('npm', ['run', '--silent', 'keys', '--', 'tail', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail = follow(child);
  const group = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
  };
  return {
    ...tail,
    groupAlive() {
      try {
        process.kill(-child.pid!, 0);
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      group('SIGKILL');
      await tail.exited;
    },
  };
}

function follow(child: ChildProcess): TailProcess {
  const lines: string[] = [];
  let partial = '';
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const tail: TailProcess = {
    child,
    lines,
    stderr: () => errors,
    events: () => lines.map((line) => JSON.parse(line)),
    exited,
    async waitForLine(match, timeoutMs = 10_000) {
      try {
        return await waitFor(() => lines.find(match), timeoutMs);
      } catch {
        throw new Error(`no matching line from keys tail.\nstdout:\n${lines.join('\n')}\nstderr:\n${errors}`);
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  return tail;
}
