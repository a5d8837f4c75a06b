import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (dist/, made by test/global-setup.ts) as a real process on the
 * project's Node, with only the environment given (plus PATH). Asynchronous, so a test
 * server in this process keeps answering while the CLI talks to it.
 */
export function runCli(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return run(process.execPath, [CLI, ...args], env);
}

/** `npm run --silent keys -- …`, exactly as the README shows it (or without --silent, as the contract writes it). */
export function runNpmKeys(args: readonly string[], env: Record<string, string>, silent = true): Promise<CliRun> {
  return run('npm', ['run', ...(silent ? ['--silent'] : []), 'keys', '--', ...args], env);
}

function run(file: string, args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
