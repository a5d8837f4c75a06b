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
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'",
};

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
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
