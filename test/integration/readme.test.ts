import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { environmentVariablesRead, tableVariables, testedShellBlocks } from '../helpers/readme.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * README.md cannot go stale: every fenced block marked ```sh tested runs with `bash -e -o
 * pipefail` from the project folder against a real server, with KEYRING_URL (its GraphQL
 * endpoint), KEYRING_API_KEY (its admin key) and DATABASE_URL (its database) set and the
 * project's node_modules/.bin first on PATH. Each block must exit 0 within BLOCK_TIMEOUT_MS,
 * and a block that calls curl must print no GraphQL `"errors"`. The configuration table must
 * list every environment variable the code reads, and nothing it does not.
 */
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const BLOCKS = testedShellBlocks(README);
const BLOCK_TIMEOUT_MS = 90_000;

interface BlockRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  stdout: string;
  timedOut: boolean;
}

/** Runs one block in a process group of its own, so that a timeout ends everything it started. */
function runBlock(code: string, env: Record<string, string>): Promise<BlockRun> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk), (output += chunk)));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, BLOCK_TIMEOUT_MS);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ code: exitCode, signal, output, stdout, timedOut });
    });
  });
}

function report(line: number, code: string, run: BlockRun, problem: string): string {
  return [
    `README.md block at line ${line}: ${problem}`,
    '--- block ---',
    code,
    `--- output (exit ${run.code ?? run.signal}) ---`,
    run.output.trimEnd() || '(none)',
    '---',
  ].join('\n');
}

describe('README.md', () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    // The webhook receiver example listens on 127.0.0.1 over http.
    server = await startTestServer({ env: { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' } });
    env = {
      PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME ?? '',
      TMPDIR: process.env.TMPDIR ?? '/tmp',
      LANG: process.env.LANG ?? 'C.UTF-8',
      KEYRING_URL: `${server.url}/graphql`,
      KEYRING_API_KEY: server.adminKey,
      DATABASE_URL: `sqlite:${server.dbFile}`,
    };
  });
  afterAll(() => server?.stop());

  it('has blocks marked ```sh tested', () => {
    expect(BLOCKS.length).toBeGreaterThan(0);
  });

  it.each(BLOCKS.map((block) => [`line ${block.line}: ${block.code.split('\n')[0]!.slice(0, 70)}`, block] as const))(
    'block at %s runs',
    async (_title, block) => {
      expect(block.code, `README.md block at line ${block.line} talks to localhost:4000 instead of "$KEYRING_URL"`).not.toMatch(/localhost:4000/);
      const run = await runBlock(block.code, env);
      if (run.timedOut) expect.fail(report(block.line, block.code, run, `did not finish within ${BLOCK_TIMEOUT_MS / 1000} s`));
      if (run.code !== 0) expect.fail(report(block.line, block.code, run, `exited with ${run.code ?? run.signal}`));
      if (/\bcurl\b/.test(block.code) && run.stdout.includes('"errors"')) {
        expect.fail(report(block.line, block.code, run, 'a GraphQL answer holds "errors"'));
      }
    },
    BLOCK_TIMEOUT_MS + 10_000,
  );

  it('lists every environment variable the code reads in its configuration table, and only those', () => {
    const read = environmentVariablesRead(join(ROOT, 'src'));
    const documented = tableVariables(README, 'Configuration');
    expect(documented, 'README.md has no "## Configuration" section with a table of variables').not.toBeNull();
    const missing = [...read].filter(([name]) => !documented!.includes(name)).map(([name, file]) => `${name} (read in ${file.slice(ROOT.length)})`);
    expect(missing, 'variables read by the code but missing from the README configuration table').toEqual([]);
    const stale = documented!.filter((name) => !read.has(name));
    expect(stale, 'variables in the README configuration table that no code reads').toEqual([]);
  });
});
