import type { InputProblem } from '../errors.js';

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

/** Which flag (or argument) of a command sets each input field, by the field's path as the service names it. */
export type FlagsByField = Readonly<Record<string, string>>;

/**
 * The problems a coded error lists (`extensions.errors`, each with its field path at the same
 * index of `extensions.fields`), or its message alone.
 */
export function problemsOf(error: { message?: string; extensions?: Record<string, unknown> }): InputProblem[] {
  const listed = error.extensions?.errors;
  const fields = error.extensions?.fields;
  if (!Array.isArray(listed) || listed.length === 0) return [{ field: null, message: error.message ?? 'refused' }];
  return listed.map((message, index) => {
    const field = Array.isArray(fields) ? fields[index] : null;
    return { field: typeof field === 'string' ? field : null, message: String(message) };
  });
}

/**
 * A problem in the operator's terms: when its field is one a flag sets, the flag stands where
 * the sentence names the field (`--merchant must be …`). Which flag is found by field path.
 */
export function inFlagTerms(problem: InputProblem, flags: FlagsByField): string {
  const flag = problem.field === null ? undefined : flags[problem.field];
  if (!flag) return problem.message;
  // Sentences name the field by its path within the request (`rateLimit.limit`), without the argument (`input.`).
  const segments = problem.field!.split('.');
  for (let i = 0; i < segments.length; i++) {
    const named = segments.slice(i).join('.');
    if (problem.message.startsWith(`${named} `)) return flag + problem.message.slice(named.length);
  }
  // A sentence that does not name its field (`Invalid scope value.`, worded by the contract) stays as it is.
  return problem.message;
}

/** Turns a domain error (a coded GraphQLError from the service) into a CliError, fields named as `flags` says. */
export function toCliError(error: unknown, flags: FlagsByField = {}): CliError {
  if (error instanceof CliError) return error;
  const extensions = (error as { extensions?: Record<string, unknown> } | null)?.extensions;
  if (error instanceof Error && typeof extensions?.code === 'string') {
    const code = extensions.code;
    const problems = problemsOf({ message: error.message, extensions }).map((problem) => inFlagTerms(problem, flags));
    return new CliError(problems, code === 'BAD_USER_INPUT' ? ExitCode.USAGE : ExitCode.FAILED, code);
  }
  return new CliError([error instanceof Error ? error.message : String(error)], ExitCode.FAILED);
}

export function printError(io: CliIo, command: string, error: CliError): void {
  const label = error.code ? ` (${error.code})` : '';
  for (const problem of error.problems) io.stderr(`keys ${command}: error${label}: ${problem}\n`);
}
