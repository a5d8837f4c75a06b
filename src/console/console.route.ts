import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloseCode, compareIds, EVENT_ID_PATTERN, FATAL_CLOSE_CODES } from '../protocol.js';

/**
 * The console's page and style sheet live in src/console/web/ and its modules are built from
 * there into dist/console/ (`npm run build`), whether we run from src (tests) or dist.
 */
function consoleDirs(): { pages: string; modules: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return { pages: join(dir, 'src', 'console', 'web'), modules: join(dir, 'dist', 'console') };
    dir = dirname(dir);
  }
  throw new Error('Cannot find the project root for the console assets.');
}

const NOT_BUILT = '<!doctype html><meta charset="utf-8"><title>keyring console</title><p>The console is not built yet: run <code>npm run build</code> and restart keyring.</p>\n';

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
  return `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'${sockets}; img-src 'self' data:; base-uri 'none'; form-action 'none'`;
}

/**
 * The protocol's constants (src/protocol.ts) as a browser module, so the console reads the same
 * close codes, id rule and id order as the server and the CLI instead of a copy of its own: each
 * value is written out as a literal, and compareIds as the source of the function the server runs.
 */
export function protocolModule(): string {
  return [
    '// Generated from src/protocol.ts by console.route.ts.',
    `export const CloseCode = Object.freeze(${JSON.stringify(CloseCode)});`,
    `export const FATAL_CLOSE_CODES = Object.freeze(${JSON.stringify(FATAL_CLOSE_CODES)});`,
    `export const EVENT_ID_PATTERN = new RegExp(${JSON.stringify(EVENT_ID_PATTERN.source)});`,
    `export const compareIds = ${compareIds.toString()};`,
    '',
  ].join('\n');
}

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';

/**
 * GET /console: one static page (plus its style sheet, its modules, the protocol's constants
 * and graphql-ws's browser build) that uses only the public GraphQL API. Loaded and generated
 * once at start; without a build, the page says how to make one.
 */
export function consoleRoute(): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { pages, modules } = consoleDirs();
  const require = createRequire(import.meta.url);
  const umd = join(dirname(require.resolve('graphql-ws/package.json')), 'umd', 'graphql-ws.min.js');
  const built = existsSync(join(modules, 'main.js'));
  const page = built ? readFileSync(join(pages, 'console.html')) : Buffer.from(NOT_BUILT);
  const files = new Map<string, { type: string; body: Buffer }>([
    ['/console', { type: HTML, body: page }],
    ['/console/', { type: HTML, body: page }],
    ['/console/console.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(pages, 'console.css')) }],
    ['/console/protocol.js', { type: JS, body: Buffer.from(protocolModule()) }],
    ['/console/graphql-ws.min.js', { type: JS, body: readFileSync(umd) }],
  ]);
  if (built) {
    for (const name of readdirSync(modules)) if (name.endsWith('.js')) files.set(`/console/${name}`, { type: JS, body: readFileSync(join(modules, name)) });
  }
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
