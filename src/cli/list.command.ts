import type { KeyStatus } from '../keys/api-key.entity.js';
import type { KeyEnvironment, KeyType } from '../keys/key-material.js';
import type { ApiKeyView } from '../keys/key-record.js';
import { merchantIdProblem } from '../keys/validation.js';
import { badInput, inFlagTerms, type CliIo } from './cli-io.js';
import type { Command } from './command.js';
import { choice, parseOptions } from './options.js';
import { printableJson } from './printable.js';
import { shortDate, table } from './table.js';

const HELP = `Usage: keys list [--merchant <mid>] [options]

Lists keys from the database (DATABASE_URL, default sqlite:./data/keyring.db), newest
first, as a table or as JSON. Secret values are never shown: they are not stored.

Options:
  --merchant <mid>   only this merchant's keys (default: every merchant)
  --status <status>  active, disabled or revoked
  --type <type>      secret, public or tokenization
  --env <env>        test or live
  --json             one JSON array instead of a table
  -h, --help         this text
`;

const PAGE = 100;

export const listCommand: Command = {
  name: 'list',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseOptions(args, {
      merchant: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
      env: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout(HELP);
      return 0;
    }
    const problems: string[] = [];
    const merchantId = typeof values.merchant === 'string' ? values.merchant : null;
    if (merchantId !== null) {
      const problem = merchantIdProblem(merchantId);
      if (problem) problems.push(inFlagTerms(problem, { merchantId: '--merchant' }));
    }
    const pick = (name: string, allowed: string[]) =>
      typeof values[name] === 'string' ? choice(values[name] as string, name, allowed, allowed[0]!, problems) : null;
    const filter = {
      merchantId,
      status: pick('status', ['active', 'disabled', 'revoked']) as KeyStatus | null,
      type: pick('type', ['secret', 'public', 'tokenization']) as KeyType | null,
      environment: pick('env', ['test', 'live']) as KeyEnvironment | null,
    };
    if (problems.length > 0) throw badInput(problems);

    // Loaded only now: help and usage errors need no database driver.
    const { CLI_ACTOR, withLocalServices } = await import('./local-services.js');
    const keys = await withLocalServices(io.env, async ({ keys: service }) => {
      const all: ApiKeyView[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await service.list(CLI_ACTOR, filter, PAGE, after);
        all.push(...page.items.map((item) => item.node));
        if (!page.hasNextPage) return all;
        after = page.items.at(-1)!.cursor;
      }
    });
    if (values.json) {
      io.stdout(`${printableJson(JSON.stringify(keys, null, 2))}\n`);
      return 0;
    }
    if (keys.length === 0) {
      io.stderr('No keys.\n');
      return 0;
    }
    const headers = ['ID', 'MERCHANT', 'NAME', 'TYPE', 'ENV', 'STATUS', 'KEY', 'SCOPES', 'LIMIT', 'USED', 'LAST USED', 'EXPIRES'];
    const rows = keys.map((key) => [
      key.id,
      key.merchantId,
      key.name,
      key.type,
      key.environment,
      key.expired && key.status !== 'REVOKED' ? 'EXPIRED' : key.status,
      `${key.prefix}…${key.last4}`,
      key.scopes.join(','),
      `${key.rateLimit.limit}/${key.rateLimit.windowSeconds}s`,
      String(key.usageCount),
      shortDate(key.lastUsedAt),
      shortDate(key.expiresAt),
    ]);
    io.stdout(table(headers, rows));
    return 0;
  },
};
