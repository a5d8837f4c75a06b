import { within } from '../errors.js';
import { validateCreateKey, type CreateKeyRequest } from '../keys/validation.js';
import { ScopeCatalogue } from '../keys/scopes.js';
import { loadConfig } from '../config.js';
import { badInput, CliError, inFlagTerms, toCliError, type CliIo, type FlagsByField } from './cli-io.js';
import type { Command } from './command.js';
import { ALLOWED_IPS_MAX } from '../keys/ip-allowlist.js';
import { choice, credits, dateTime, jsonObject, list, parseOptions, rateLimit, required } from './options.js';

const HELP = `Usage: keys create --merchant <mid> --name <name> --scopes <a,b> [options]

Mints a key directly in the database (DATABASE_URL, default sqlite:./data/keyring.db)
and prints its value alone on stdout. Store it now: a secret key is never shown again.
Needs no running service; the event is recorded with metadata {"via":"cli"}.

Options:
  --merchant <mid>         merchant the key belongs to (A-Z a-z 0-9 _ -, 1 to 64)
  --name <name>            1 to 100 characters, without < or >
  --scopes <a,b>           comma-separated scopes from the catalogue, e.g. keys:read,keys:verify
                           (admin grants every scope for every merchant)
  --type <type>            secret (default), public or tokenization
  --env <env>              test (default) or live
  --expires-at <ISO>       expiry, e.g. 2027-01-31T12:00:00Z (default: never)
  --rate-limit <N/SECONDS> e.g. 100/60 (default: 30/60)
  --metadata <JSON>        your own data on the key, a JSON object of at most 4 KiB,
                           e.g. '{"plan":"pro"}' (verifyKey returns it)
  --allow-ip <CIDR,…>      addresses or CIDR ranges the key's own requests may come from,
                           IPv4 or IPv6, at most 100, e.g. 203.0.113.0/24,2001:db8::/32
                           (default: any address)
  --credits <N[/daily|/monthly[:DAY]]>
                           usage credits (default: unlimited): N now, and with a refill
                           set back to N every day, or every month on DAY (1-31, default 1;
                           a shorter month on its last day), at 00:00 UTC
  -h, --help               this text
`;

/** The service names createKey's input fields as the API does; the operator typed these flags. */
const FLAGS: FlagsByField = {
  'input.merchantId': '--merchant',
  'input.name': '--name',
  'input.type': '--type',
  'input.environment': '--env',
  'input.scopes': '--scopes',
  'input.expiresAt': '--expires-at',
  'input.rateLimit.limit': '--rate-limit N',
  'input.rateLimit.windowSeconds': '--rate-limit SECONDS',
  'input.metadata': '--metadata',
  ...allowIpFlags(),
  'input.credits.remaining': '--credits N',
  'input.credits.refill.amount': '--credits N',
  'input.credits.refill.interval': '--credits interval',
  'input.credits.refill.anchorDay': '--credits DAY',
};

/** `--allow-ip` for the list, `--allow-ip entry N` (counted from 1) for each of its entries. */
export function allowIpFlags(): FlagsByField {
  const flags: Record<string, string> = { 'input.allowedIps': '--allow-ip' };
  for (let i = 0; i < ALLOWED_IPS_MAX; i++) flags[`input.allowedIps.${i}`] = `--allow-ip entry ${i + 1}`;
  return flags;
}

/** The contract's `Invalid scope value.`, for an operator: which of the given scopes are unknown, and the valid ones. */
function namingScopes(problem: string, requested: readonly string[], catalogue: ScopeCatalogue): string {
  if (problem !== 'Invalid scope value.') return problem;
  const unknown = requested.filter((scope) => !catalogue.has(scope));
  return `Invalid scope value: --scopes names ${unknown.join(', ')}; valid scopes are ${catalogue.list().map((scope) => scope.name).join(', ')}.`;
}

export const createCommand: Command = {
  name: 'create',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseOptions(args, {
      merchant: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      type: { type: 'string' },
      env: { type: 'string' },
      'expires-at': { type: 'string' },
      'rate-limit': { type: 'string' },
      metadata: { type: 'string' },
      'allow-ip': { type: 'string' },
      credits: { type: 'string' },
    });
    if (values.help) {
      io.stdout(HELP);
      return 0;
    }
    const problems: string[] = [];
    const merchantId = required(values, 'merchant', problems);
    const name = required(values, 'name', problems);
    if (typeof values.scopes !== 'string') problems.push('--scopes is required (comma-separated).');
    const request: CreateKeyRequest = {
      merchantId: merchantId || null,
      name,
      type: choice(values.type as string | undefined, 'type', ['secret', 'public', 'tokenization'], 'secret', problems),
      environment: choice(values.env as string | undefined, 'env', ['test', 'live'], 'test', problems),
      scopes: list(typeof values.scopes === 'string' ? values.scopes : ''),
      expiresAt: typeof values['expires-at'] === 'string' ? dateTime(values['expires-at'], 'expires-at', problems) : null,
      rateLimit: typeof values['rate-limit'] === 'string' ? rateLimit(values['rate-limit'], problems) : null,
      metadata: typeof values.metadata === 'string' ? jsonObject(values.metadata, 'metadata', problems) : null,
      allowedIps: typeof values['allow-ip'] === 'string' ? list(values['allow-ip']) : null,
      credits: typeof values.credits === 'string' ? credits(values.credits, problems) : null,
    };
    const catalogue = new ScopeCatalogue(loadConfig(io.env).extraScopes);
    if (problems.length > 0) {
      // Report what the service would also refuse, so one run lists every problem.
      const checked = validateCreateKey({ ...request, name: request.name || 'x' }, catalogue);
      const refused = checked.ok ? [] : within('input', checked.problems).map((problem) => namingScopes(inFlagTerms(problem, FLAGS), request.scopes, catalogue));
      throw badInput([...problems, ...refused]);
    }
    // Loaded only now: help and usage errors need no database driver.
    const { CLI_ACTOR, withLocalServices } = await import('./local-services.js');
    const created = await withLocalServices(io.env, ({ keys }) => keys.create(CLI_ACTOR, request)).catch((error: unknown) => {
      if ((error as { extensions?: { code?: unknown } }).extensions?.code !== 'BAD_USER_INPUT') throw error;
      const refused = toCliError(error, FLAGS);
      throw new CliError(refused.problems.map((problem) => namingScopes(problem, request.scopes, catalogue)), refused.exitCode, refused.code);
    });
    io.stdout(`${created.secret}\n`);
    return 0;
  },
};
