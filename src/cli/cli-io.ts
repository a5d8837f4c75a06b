/** Where a command writes and what it reads from its environment; tests pass their own. */
export interface CliIo {
  /** The command's result, and nothing else (a key value, a table, JSON). */
  stdout(text: string): void;
  /** Errors, warnings and help asked for by mistake. */
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

export const ExitCode = {
  OK: 0,
  /** The command ran and failed: service unreachable, refused, key not found. */
  FAILED: 1,
  /** The command line or its values are wrong: nothing was done. */
  USAGE: 2,
} as const;

/** A failure the CLI explains itself: one line per problem, then exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    readonly problems: readonly string[],
    readonly exitCode: number = ExitCode.FAILED,
    readonly code?: string,
  ) {
    super(problems[0] ?? 'failed');
    this.name = 'CliError';
  }
}

/** Bad input, reported the way the API reports it: every problem, code BAD_USER_INPUT. */
export function badInput(problems: readonly string[]): CliError {
  return new CliError(problems, ExitCode.USAGE, 'BAD_USER_INPUT');
}

/** Turns a domain error (a coded GraphQLError from the service) into a CliError. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const extensions = (error as { extensions?: Record<string, unknown> } | null)?.extensions;
  if (error instanceof Error && typeof extensions?.code === 'string') {
    const code = extensions.code;
    const listed = extensions.errors;
    const problems = Array.isArray(listed) && listed.length > 0 ? listed.map(String) : [error.message];
    return new CliError(problems, code === 'BAD_USER_INPUT' ? ExitCode.USAGE : ExitCode.FAILED, code);
  }
  return new CliError([error instanceof Error ? error.message : String(error)], ExitCode.FAILED);
}

export function printError(io: CliIo, command: string, error: CliError): void {
  const label = error.code ? ` (${error.code})` : '';
  for (const problem of error.problems) io.stderr(`keys ${command}: error${label}: ${problem}\n`);
}
