import 'reflect-metadata';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ExitCode, printError, toCliError, type CliIo } from './cli-io.js';
import type { Command } from './command.js';

/** A subcommand as the list shows it; its module (and what it needs: graphql, ws, the ORM) loads only when it runs. */
interface CommandEntry {
  name: string;
  /** One line for the command list. */
  summary: string;
  load(): Promise<Command>;
}

const status = (name: 'disable' | 'enable' | 'revoke', summary: string): CommandEntry => ({
  name,
  summary,
  load: async () => (await import('./status.command.js')).statusCommand(name, summary),
});

/** Every subcommand, in the order `keys --help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'create', summary: 'mint a key in the database and print its value', load: async () => (await import('./create.command.js')).createCommand },
  { name: 'list', summary: 'list keys in the database (table or --json), by merchant', load: async () => (await import('./list.command.js')).listCommand },
  {
    name: 'update',
    summary: "change a key's name, metadata, scopes, limit, expiry, allowlist or credits (via the running service)",
    load: async () => (await import('./update.command.js')).updateCommand,
  },
  status('disable', 'stop a key authenticating until enabled (via the running service)'),
  status('enable', 'let a disabled key authenticate again (via the running service)'),
  status('revoke', 'revoke a key for good (via the running service)'),
  { name: 'tail', summary: 'follow the audit feed as it happens (via the running service)', load: async () => (await import('./tail.command.js')).tailCommand },
];

export const HELP = `Usage: keys <command> [options]        (npm run --silent keys -- <command> [options])

Operator commands for keyring. create and list work directly on the database named by
DATABASE_URL (default sqlite:./data/keyring.db); update, disable, enable, revoke and tail go through
the running service (KEYRING_URL, default http://localhost:4000/graphql) so its key cache
is updated at once.

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(9)}${command.summary}`).join('\n')}

Run keys <command> --help for its options. Exit status: 0 done, 1 failed, 2 bad usage or input.
`;

/**
 * Dispatches `keys <command> …` and resolves to the exit code. Results go to stdout, and
 * nothing else does: errors go to stderr, one line per problem.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(HELP);
    return ExitCode.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((command) => command.name === rest[0]) : undefined;
    io.stdout(topic ? (await topic.load()).help : HELP);
    return ExitCode.OK;
  }
  const entry = COMMANDS.find((candidate) => candidate.name === name);
  if (!entry) {
    io.stderr(`keys: unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}. See keys --help.\n`);
    return ExitCode.USAGE;
  }
  try {
    return await (await entry.load()).run(rest, io);
  } catch (error) {
    const failure = toCliError(error);
    printError(io, entry.name, failure);
    if (failure.exitCode === ExitCode.FAILED && !failure.code && !(error instanceof Error && error.name === 'CliError')) {
      // Unexpected: keep the stack on stderr for whoever has to debug it.
      io.stderr(`${error instanceof Error ? error.stack : String(error)}\n`);
    }
    return failure.exitCode;
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const io: CliIo = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  };
  process.exitCode = await runCli(process.argv.slice(2), io);
}
