import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloseCode, EVENT_ID_PATTERN, FATAL_CLOSE_CODES } from '../protocol.js';

/** The console's files live in src/console/ whether we run from src (tests) or dist. */
function consoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'src', 'console');
    dir = dirname(dir);
  }
  throw new Error('Cannot find the project root for the console assets.');
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** A Host header that is a plain host name or IP literal with an optional port: nothing else is written into the policy. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The console's Content-Security-Policy: scripts, styles and connections from its own origin
 * only. `'self'` does not cover WebSocket schemes in every browser, so the request's own host
 * is named for ws: and wss: (wss: when a TLS proxy is in front): no other host may be reached.
 */
export function consolePolicy(host: string | undefined): string {
  const sockets = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'${sockets}; img-src 'self' data:; base-uri 'none'; form-action 'none'`;
}

/**
 * The protocol's constants (src/protocol.ts) as a browser module, so the console reads the same
 * close codes and id rule as the server and the CLI instead of a copy of its own. Values only:
 * each is written out as a literal from the module the server itself runs.
 */
export function protocolModule(): string {
  return [
    '// Generated from src/protocol.ts by console.route.ts.',
    `export const CloseCode = Object.freeze(${JSON.stringify(CloseCode)});`,
    `export const FATAL_CLOSE_CODES = Object.freeze(${JSON.stringify(FATAL_CLOSE_CODES)});`,
    `export const EVENT_ID_PATTERN = new RegExp(${JSON.stringify(EVENT_ID_PATTERN.source)});`,
    '',
  ].join('\n');
}

/**
 * GET /console: one static page (plus its script, the protocol's constants and graphql-ws's
 * browser build) that uses only the public GraphQL API. Loaded and generated once at start.
 */
export function consoleRoute(): (req: IncomingMessage, res: ServerResponse) => boolean {
  const dir = consoleDir();
  const require = createRequire(import.meta.url);
  const umd = join(dirname(require.resolve('graphql-ws/package.json')), 'umd', 'graphql-ws.min.js');
  const files = new Map<string, { type: string; body: Buffer }>([
    ['/console', { type: 'text/html; charset=utf-8', body: readFileSync(join(dir, 'console.html')) }],
    ['/console/', { type: 'text/html; charset=utf-8', body: readFileSync(join(dir, 'console.html')) }],
    ['/console/console.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dir, 'console.js')) }],
    ['/console/protocol.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(protocolModule()) }],
    ['/console/graphql-ws.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(umd) }],
  ]);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const file = files.get(path);
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      ...SECURITY_HEADERS,
      'content-security-policy': consolePolicy(req.headers.host),
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
