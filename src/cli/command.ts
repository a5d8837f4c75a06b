import type { CliIo } from './cli-io.js';

/** One `keys <name> …` subcommand. */
export interface Command {
  name: string;
  /** What `keys <name> --help` prints. */
  help: string;
  /** Runs with the arguments after the subcommand's name; resolves to the exit code. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}
