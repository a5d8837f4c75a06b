import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
 * GET /console: one static page (plus its script and graphql-ws's browser build) that
 * uses only the public GraphQL API. Loaded once at start; nothing is built at runtime.
 */
export function consoleRoute(): (req: IncomingMessage, res: ServerResponse) => boolean {
  const dir = consoleDir();
  const require = createRequire(import.meta.url);
  const umd = join(dirname(require.resolve('graphql-ws/package.json')), 'umd', 'graphql-ws.min.js');
  const files = new Map<string, { type: string; body: Buffer }>([
    ['/console', { type: 'text/html; charset=utf-8', body: readFileSync(join(dir, 'console.html')) }],
    ['/console/', { type: 'text/html; charset=utf-8', body: readFileSync(join(dir, 'console.html')) }],
    ['/console/console.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dir, 'console.js')) }],
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
