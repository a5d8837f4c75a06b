import { readFile } from 'node:fs/promises';
import { CliError, ExitCode, inFlagTerms, problemsOf, type FlagsByField } from './cli-io.js';

export const DEFAULT_URL = 'http://localhost:4000/graphql';

/**
 * The API key the CLI uses against a running service: from the file named by --key-file,
 * or from KEYRING_API_KEY. Never from an argument, where shell history and `ps` would keep it.
 */
export async function apiKeyFrom(
  keyFile: string | undefined,
  env: Record<string, string | undefined>,
  needs = 'a key with keys:write',
): Promise<string> {
  if (keyFile !== undefined) {
    let text: string;
    try {
      text = await readFile(keyFile, 'utf8');
    } catch (error) {
      throw new CliError([`Cannot read --key-file ${keyFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`], ExitCode.USAGE);
    }
    const key = text.trim();
    if (!key) throw new CliError([`--key-file ${keyFile} is empty.`], ExitCode.USAGE);
    return key;
  }
  const key = env.KEYRING_API_KEY?.trim();
  if (!key) {
    throw new CliError([`No API key: set KEYRING_API_KEY or pass --key-file <path> (${needs}).`], ExitCode.USAGE);
  }
  return key;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string; errors?: unknown; fields?: unknown } }>;
}

/**
 * One GraphQL request to the running service. A GraphQL error becomes a CliError carrying
 * its code and every problem it lists, each field it names said as the flag in `flags`.
 */
export async function request<T>(url: string, key: string, query: string, variables: Record<string, unknown>, flags: FlagsByField = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new CliError([`Cannot reach the keyring service at ${url} (${cause}). Is it running? Set KEYRING_URL or --url.`]);
  }
  let body: GraphQLResponse<T>;
  try {
    body = (await response.json()) as GraphQLResponse<T>;
  } catch {
    throw new CliError([`${url} answered HTTP ${response.status} without a GraphQL response.`]);
  }
  const first = body.errors?.[0];
  if (first) {
    const code = first.extensions?.code;
    const problems = problemsOf(first).map((problem) => inFlagTerms(problem, flags));
    if (code === 'UNAUTHENTICATED') problems.push('Check the key in KEYRING_API_KEY or --key-file.');
    throw new CliError(problems, code === 'BAD_USER_INPUT' ? ExitCode.USAGE : ExitCode.FAILED, code);
  }
  if (!response.ok || !body.data) throw new CliError([`${url} answered HTTP ${response.status}.`]);
  return body.data;
}
