import type { CreditsRequest } from '../keys/credits.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, ExitCode } from './cli-io.js';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** Every subcommand accepts these. */
const COMMON: OptionSpecs = { help: { type: 'boolean', short: 'h' } };

/** Options that would put a key on the command line, where shell history and `ps` would show it. */
const KEY_OPTIONS = new Set(['key', 'api-key', 'apikey', 'token']);

export interface ParsedOptions {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Strict option parsing: an unknown option or a missing value is a usage error (exit 2),
 * never silently ignored.
 */
export function parseOptions(args: readonly string[], options: OptionSpecs, maxPositionals = 0): ParsedOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError([usageMessage(error)], ExitCode.USAGE);
  }
  const { values, positionals } = parsed as unknown as ParsedOptions;
  if (!values.help && positionals.length > maxPositionals) {
    throw new CliError([`Unexpected argument "${positionals[maxPositionals]}".`], ExitCode.USAGE);
  }
  return { values, positionals };
}

function usageMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
  if (unknown) {
    const name = unknown[1]!.replace(/^-+/, '');
    if (KEY_OPTIONS.has(name.toLowerCase())) {
      return `${unknown[1]} is not accepted: pass the API key in KEYRING_API_KEY or a file named by --key-file, never on the command line.`;
    }
    return `Unknown option ${unknown[1]}. See --help.`;
  }
  const missing = /Option '(?:-\w, )?(--[^ ']+)(?: <value>)?' argument (?:missing|is ambiguous)/.exec(message);
  if (missing) return `${missing[1]} needs a value.`;
  return message.split('\n')[0]!.split('. To specify')[0]!.replace(/\.?$/, '.');
}

/** A string option that must be present and non-empty. */
export function required(values: ParsedOptions['values'], name: string, problems: string[]): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') problems.push(`--${name} is required.`);
  return typeof value === 'string' ? value : '';
}

/** `a,b, c` → ['a', 'b', 'c']. */
export function list(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** An ISO 8601 date (UTC midnight) or date-time with a zone; a local time would be ambiguous. */
export function dateTime(value: string, name: string, problems: string[]): Date | null {
  const date = ISO_DATE_TIME.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    problems.push(`--${name} must be an ISO 8601 date-time with a zone, such as 2027-01-31T12:00:00Z.`);
    return null;
  }
  return date;
}

/** `100/60` → 100 requests per 60 seconds. The ranges are checked by the keys service. */
export function rateLimit(value: string, problems: string[]): { limit: number; windowSeconds: number } | null {
  const match = /^(\d{1,9})\/(\d{1,9})$/.exec(value.trim());
  if (!match) {
    problems.push('--rate-limit must be N/SECONDS, such as 100/60 (100 requests per 60 seconds).');
    return null;
  }
  return { limit: Number(match[1]), windowSeconds: Number(match[2]) };
}

/**
 * `1000` → 1,000 credits, never refilled; `1000/daily` → 1,000 now and set back to 1,000 every day
 * at 00:00 UTC; `1000/monthly:15` → the same on the 15th of each month (`/monthly` alone: the 1st).
 * The ranges are checked by the keys service.
 */
export function credits(value: string, problems: string[]): CreditsRequest | null {
  const match = /^(\d{1,10})(?:\/(daily|monthly)(?::(\d{1,2}))?)?$/i.exec(value.trim());
  if (!match || (match[3] !== undefined && match[2]!.toLowerCase() !== 'monthly')) {
    problems.push('--credits must be N, N/daily, N/monthly or N/monthly:DAY, such as 1000/monthly:15.');
    return null;
  }
  const remaining = Number(match[1]);
  if (!match[2]) return { remaining };
  const interval = match[2].toUpperCase();
  return { remaining, refill: { amount: remaining, interval, anchorDay: match[3] === undefined ? null : Number(match[3]) } };
}

/** A choice among lower-case words, returned upper-cased as the service names it. */
export function choice(value: string | undefined, name: string, allowed: readonly string[], fallback: string, problems: string[]): string {
  const chosen = (value ?? fallback).toLowerCase();
  if (!allowed.includes(chosen)) {
    problems.push(`--${name} must be one of ${allowed.join(', ')}.`);
    return fallback.toUpperCase();
  }
  return chosen.toUpperCase();
}

/** A JSON object typed on the command line, such as `{"plan":"pro"}`; its size is checked by the keys service. */
export function jsonObject(value: string, name: string, problems: string[]): Record<string, unknown> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`--${name} must be a JSON object, such as '{"plan":"pro"}'.`);
    return null;
  }
  return parsed as Record<string, unknown>;
}
