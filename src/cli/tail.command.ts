import { setTimeout as sleep } from 'node:timers/promises';
import { AuditEventType } from '../audit/event-types.js';
import { CloseCode, isEventId } from '../protocol.js';
import { CliError, ExitCode, type CliIo } from './cli-io.js';
import type { Command } from './command.js';
import { eventLine, jsonLine } from './event-line.js';
import { backoffMs, follow } from './feed-follower.js';
import { apiKeyFrom, DEFAULT_URL, request } from './graphql-client.js';
import { list, parseOptions } from './options.js';

const TYPES = Object.values(AuditEventType).sort();

const HELP = `Usage: keys tail [--types <T,…>] [--key <key-id>] [--merchant <mid>] [--after <event-id>] [--json]
                 [--key-file <path>] [--url <url>]

Follows the audit feed of the running service over WebSocket (graphql-ws) and prints
each event as it happens, one line per event, until Ctrl-C (exit 0).

When the connection drops (restart, network, shutdown) it reconnects with backoff and
resumes after the last event it printed: nothing is missed, nothing printed twice.
It stops with exit 1 when the service refuses its key (${CloseCode.Unauthorized}), or when that key is
disabled, revoked or expires while it follows (${CloseCode.Forbidden}).

The key needs audit:read (a key other than admin sees its own merchant's events only);
it is read from the file named by --key-file or from KEYRING_API_KEY, never from an argument.
Only events go to stdout; connection notices and errors go to stderr.

Options:
  --types <T,…>       only these event types, comma separated:
${wrap(TYPES, '                        ')}
  --key <key-id>      only events about this key (its id, such as key_…; not its value)
  --merchant <mid>    only this merchant's events
  --after <event-id>  first print every stored event after this id, then follow
                      (0: the whole stored history)
  --json              one JSON object per line instead of readable lines
  --key-file <path>   file holding the API key to use
  --url <url>         GraphQL endpoint (default: KEYRING_URL or ${DEFAULT_URL});
                      http becomes ws and https wss
  -h, --help          this text

Line format: <time> #<id> <TYPE> merchant=… key=… actor=… op=… reason="…" ip=…
`;

function wrap(words: readonly string[], indent: string): string {
  const lines: string[] = [];
  for (const word of words) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + word.length + 2 <= 90) lines[last] += `, ${word}`;
    else lines.push(indent + word);
  }
  return lines.join(',\n');
}

const KEY_VALUE = /^(sk|pk|tk)_(live|test)_/;

export const tailCommand: Command = {
  name: 'tail',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values } = parseOptions(args, {
      types: { type: 'string' },
      key: { type: 'string' },
      merchant: { type: 'string' },
      after: { type: 'string' },
      json: { type: 'boolean' },
      'key-file': { type: 'string' },
      url: { type: 'string' },
    });
    if (values.help) {
      io.stdout(HELP);
      return ExitCode.OK;
    }
    const problems: string[] = [];
    const types = typeof values.types === 'string' ? eventTypes(values.types, problems) : undefined;
    const keyId = values.key as string | undefined;
    if (keyId !== undefined && KEY_VALUE.test(keyId)) {
      // Someone pasted a key's value: refuse it before it travels anywhere, and say why.
      problems.push('--key takes a key id (key_…), not a key value; the key tail uses comes from KEYRING_API_KEY or --key-file.');
    }
    const after = values.after as string | undefined;
    if (after !== undefined && !isEventId(after)) problems.push('--after must be an audit event id (a decimal integer, such as 1234).');
    const url = (values.url as string | undefined) ?? (io.env.KEYRING_URL || DEFAULT_URL);
    const wsUrl = webSocketUrl(url, problems);
    if (problems.length > 0) throw new CliError(problems, ExitCode.USAGE);

    const apiKey = await apiKeyFrom(values['key-file'] as string | undefined, io.env, 'a key with audit:read');
    const filter = { ...(types ? { types } : {}), ...(keyId ? { keyId } : {}), ...(values.merchant ? { merchantId: values.merchant as string } : {}) };
    const print = values.json ? jsonLine : eventLine;
    const stop = stopSignal();
    try {
      // Without --after, resume points start at the newest stored event, so that a connection
      // dropped before the first event still misses nothing.
      const notice = (text: string) => io.stderr(`keys tail: ${text}\n`);
      const start = after ?? (await newestEventId(url, apiKey, notice, stop.signal));
      if (start === null) return ExitCode.OK; // stopped while waiting for the service
      io.stderr(`keys tail: connecting to ${wsUrl} (Ctrl-C to stop)\n`);
      await follow({
        wsUrl,
        apiKey,
        filter,
        after: start,
        onEvent: (event) => io.stdout(`${print(event)}\n`),
        notice,
        signal: stop.signal,
      });
    } finally {
      stop.release();
    }
    return ExitCode.OK;
  },
};

function eventTypes(value: string, problems: string[]): string[] {
  const types = list(value).map((type) => type.toUpperCase());
  const unknown = types.filter((type) => !TYPES.includes(type as AuditEventType));
  if (types.length === 0) problems.push(`--types needs at least one event type: ${TYPES.join(', ')}.`);
  for (const type of unknown) problems.push(`--types: unknown event type "${type}". Known types: ${TYPES.join(', ')}.`);
  return types;
}

function webSocketUrl(url: string, problems: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(`The URL "${url}" is not a valid URL (KEYRING_URL or --url, such as ${DEFAULT_URL}).`);
    return '';
  }
  const protocols: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const protocol = protocols[parsed.protocol];
  if (!protocol) {
    problems.push(`The URL "${url}" must start with http://, https://, ws:// or wss://.`);
    return '';
  }
  parsed.protocol = protocol;
  return parsed.toString();
}

/**
 * The id of the newest stored event the key may see ('0' when there is none); null when stopped
 * while waiting. A service that answers RATE_LIMITED or SERVICE_UNAVAILABLE is asked again with
 * backoff, as the feed itself is.
 */
async function newestEventId(url: string, apiKey: string, notice: (text: string) => void, signal: AbortSignal): Promise<string | null> {
  const query = 'query CliTailHead { auditEvents(first: 1) { edges { node { id } } } }';
  for (let attempt = 1; ; attempt++) {
    try {
      const data = await request<{ auditEvents: { edges: Array<{ node: { id: string } }> } }>(url, apiKey, query, {});
      return data.auditEvents.edges[0]?.node.id ?? '0';
    } catch (error) {
      if (error instanceof CliError && error.code === 'FORBIDDEN') {
        throw new CliError([...error.problems, 'tail needs a key with audit:read.'], ExitCode.FAILED, error.code);
      }
      if (!(error instanceof CliError && (error.code === 'RATE_LIMITED' || error.code === 'SERVICE_UNAVAILABLE'))) throw error;
      const delayMs = backoffMs(attempt);
      notice(`the service answered ${error.code}: ${error.problems[0]} Retrying in ${(delayMs / 1000).toFixed(1)} s.`);
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        return null;
      }
    }
  }
}

/**
 * Aborted on SIGINT or SIGTERM (npm may deliver Ctrl-C twice: once from the terminal, once
 * forwarded) and when stdout's reader goes away (`keys tail | head`).
 */
function stopSignal(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  const onStdoutError = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop();
    else throw error;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.on('error', onStdoutError);
  return {
    signal: controller.signal,
    release() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // The stdout listener stays: a write still buffered may yet fail with EPIPE.
    },
  };
}
