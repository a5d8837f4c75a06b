import { badInput, CliError, ExitCode, type CliIo, type FlagsByField } from './cli-io.js';
import type { Command } from './command.js';
import { allowIpFlags } from './create.command.js';
import { apiKeyFrom, DEFAULT_URL, request } from './graphql-client.js';
import { credits, dateTime, jsonObject, list, parseOptions, rateLimit } from './options.js';

const HELP = `Usage: keys update <key-id> [options] [--key-file <path>] [--url <url>]

Changes a key in place (updateKey), through the running service's GraphQL API, so that
every instance holds the change from the key's next request on; open WebSockets whose
address or scopes the key no longer allows are closed. Options left out leave their field
as it is; a revoked key cannot be updated. Leaves KEY_UPDATED naming the changed fields.

The CLI authenticates with a key holding keys:write, read from the file named by
--key-file or from KEYRING_API_KEY (never from an argument); it grants only scopes it holds.

Options:
  --name <name>            1 to 100 characters, without < or >
  --metadata <JSON|null>   a JSON object of at most 4 KiB, e.g. '{"plan":"pro"}'; null clears it
  --scopes <a,b>           the key's new scopes (all of them; an empty value removes every scope)
  --rate-limit <N/SECONDS> e.g. 100/60
  --expires-at <ISO|never> expiry, e.g. 2027-01-31T12:00:00Z; never clears it
  --allow-ip <CIDR,…|any>  addresses or CIDR ranges (at most 100), e.g. 203.0.113.0/24; any clears the list
  --credits <N[/daily|/monthly[:DAY]]|null>
                           sets the usage credits anew: N now, and with a refill set back to N
                           every day, or every month on DAY (1-31, default 1), at 00:00 UTC;
                           null: unlimited
  --key-file <path>        file holding the API key to use
  --url <url>              GraphQL endpoint (default: KEYRING_URL or ${DEFAULT_URL})
  --json                   print the key as JSON instead of "<id> <name>"
  -h, --help               this text
`;

/** updateKey's input fields as the operator typed them. */
const FLAGS: FlagsByField = {
  id: '<key-id>',
  'input.name': '--name',
  'input.metadata': '--metadata',
  'input.scopes': '--scopes',
  'input.rateLimit': '--rate-limit',
  'input.rateLimit.limit': '--rate-limit N',
  'input.rateLimit.windowSeconds': '--rate-limit SECONDS',
  'input.expiresAt': '--expires-at',
  ...allowIpFlags(),
  'input.credits.remaining': '--credits N',
  'input.credits.refill.amount': '--credits N',
  'input.credits.refill.interval': '--credits interval',
  'input.credits.refill.anchorDay': '--credits DAY',
};

const MUTATION = /* GraphQL */ `
  mutation CliUpdateKey($id: ID!, $input: UpdateKeyInput!) {
    updateKey(id: $id, input: $input) { id merchantId name status scopes metadata allowedIps expiresAt rateLimit { limit windowSeconds } credits { remaining refill { amount interval anchorDay } nextRefillAt } updatedAt }
  }
`;

export const updateCommand: Command = {
  name: 'update',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseOptions(
      args,
      {
        name: { type: 'string' },
        metadata: { type: 'string' },
        scopes: { type: 'string' },
        'rate-limit': { type: 'string' },
        'expires-at': { type: 'string' },
        'allow-ip': { type: 'string' },
        credits: { type: 'string' },
        'key-file': { type: 'string' },
        url: { type: 'string' },
        json: { type: 'boolean' },
      },
      1,
    );
    if (values.help) {
      io.stdout(HELP);
      return 0;
    }
    const id = positionals[0];
    if (!id) throw new CliError(['The id of the key to update is required (keys update <key-id> …).'], ExitCode.USAGE);
    const problems: string[] = [];
    const input: Record<string, unknown> = {};
    const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    if (text('name') !== undefined) input.name = text('name');
    const metadata = text('metadata');
    if (metadata !== undefined) input.metadata = metadata.trim() === 'null' ? null : jsonObject(metadata, 'metadata', problems);
    if (text('scopes') !== undefined) input.scopes = list(text('scopes')!);
    if (text('rate-limit') !== undefined) input.rateLimit = rateLimit(text('rate-limit')!, problems);
    const expiresAt = text('expires-at');
    if (expiresAt !== undefined) input.expiresAt = expiresAt.trim() === 'never' ? null : dateTime(expiresAt, 'expires-at', problems)?.toISOString();
    const allowIp = text('allow-ip');
    if (allowIp !== undefined) input.allowedIps = allowIp.trim() === 'any' ? null : list(allowIp);
    const creditsText = text('credits');
    if (creditsText !== undefined) input.credits = creditsText.trim() === 'null' ? null : credits(creditsText, problems);
    if (problems.length > 0) throw badInput(problems);
    if (Object.keys(input).length === 0) throw new CliError(['Nothing to change: give at least one of --name, --metadata, --scopes, --rate-limit, --expires-at, --allow-ip, --credits.'], ExitCode.USAGE);
    const url = text('url') ?? (io.env.KEYRING_URL || DEFAULT_URL);
    const key = await apiKeyFrom(text('key-file'), io.env);
    const data = await request<{ updateKey: { id: string; name: string } }>(url, key, MUTATION, { id, input }, FLAGS);
    io.stdout(values.json ? `${JSON.stringify(data.updateKey, null, 2)}\n` : `${data.updateKey.id} ${data.updateKey.name}\n`);
    return 0;
  },
};
