import { CliError, ExitCode, type CliIo } from './cli-io.js';
import type { Command } from './command.js';
import { apiKeyFrom, DEFAULT_URL, request } from './graphql-client.js';
import { parseOptions } from './options.js';

interface StatusChange {
  name: 'revoke' | 'disable' | 'enable';
  mutation: 'revokeKey' | 'disableKey' | 'enableKey';
  takesReason: boolean;
}

const CHANGES: readonly StatusChange[] = [
  { name: 'disable', mutation: 'disableKey', takesReason: true },
  { name: 'enable', mutation: 'enableKey', takesReason: false },
  { name: 'revoke', mutation: 'revokeKey', takesReason: true },
];

function help(change: StatusChange, summary: string): string {
  return `Usage: keys ${change.name} <key-id>${change.takesReason ? ' [--reason <text>]' : ''} [--key-file <path>] [--url <url>]

${summary[0]!.toUpperCase()}${summary.slice(1).replace(/ \(via the running service\)$/, '')}.
Goes through the running service's GraphQL API (${change.mutation}), so that every
instance drops the key from its cache at once; the service must be reachable.

The CLI authenticates with a key holding keys:write, read from the file named by
--key-file or from KEYRING_API_KEY (never from an argument).

Options:
${change.takesReason ? '  --reason <text>    why (recorded on the key and in the audit event)\n' : ''}  --key-file <path>  file holding the API key to use
  --url <url>        GraphQL endpoint (default: KEYRING_URL or ${DEFAULT_URL})
  --json             print the key as JSON instead of "<id> <STATUS>"
  -h, --help         this text
`;
}

const FIELDS = 'id merchantId name type environment status statusReason disabledAt revokedAt updatedAt';

/** `keys disable|enable|revoke`, whose one-line summary (from the command list) opens its help. */
export function statusCommand(name: StatusChange['name'], summary: string): Command {
  const change = CHANGES.find((candidate) => candidate.name === name)!;
  const text = help(change, summary);
  return {
    name: change.name,
    help: text,
    async run(args: readonly string[], io: CliIo): Promise<number> {
      const { values, positionals } = parseOptions(
        args,
        {
          ...(change.takesReason ? { reason: { type: 'string' as const } } : {}),
          'key-file': { type: 'string' },
          url: { type: 'string' },
          json: { type: 'boolean' },
        },
        1,
      );
      if (values.help) {
        io.stdout(text);
        return 0;
      }
      const id = positionals[0];
      if (!id) throw new CliError([`The id of the key to ${change.name} is required (keys ${change.name} <key-id>).`], ExitCode.USAGE);
      const url = (values.url as string | undefined) ?? (io.env.KEYRING_URL || DEFAULT_URL);
      const key = await apiKeyFrom(values['key-file'] as string | undefined, io.env);
      const reasonArg = change.takesReason ? ', $reason: String' : '';
      const reasonUse = change.takesReason ? ', reason: $reason' : '';
      const query = `mutation Cli${change.mutation[0]!.toUpperCase()}${change.mutation.slice(1)}($id: ID!${reasonArg}) { ${change.mutation}(id: $id${reasonUse}) { ${FIELDS} } }`;
      const variables: Record<string, unknown> = { id };
      if (change.takesReason && typeof values.reason === 'string') variables.reason = values.reason;
      const data = await request<Record<string, { id: string; status: string }>>(url, key, query, variables, { reason: '--reason' });
      const result = data[change.mutation]!;
      io.stdout(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.id} ${result.status}\n`);
      return 0;
    },
  };
}
