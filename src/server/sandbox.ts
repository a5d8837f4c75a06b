import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';

/** Example operations Apollo Sandbox opens with: pick one from the operation list and run it. */
export const SANDBOX_DOCUMENT = /* GraphQL */ `# Paste your key into the Authorization header below ("Bearer sk_…"), then run an operation.

query WhoAmI {
  viewer { keyId merchantId scopes admin rateLimit { limit remaining resetAt } }
}

mutation CreateKey($input: CreateKeyInput!) {
  createKey(input: $input) {
    secret # shown once: store it now
    key { id name type environment status scopes prefix last4 rateLimit { limit windowSeconds } }
  }
}

query ListKeys($first: Int = 20, $after: String) {
  apiKeys(first: $first, after: $after) {
    totalCount
    edges { cursor node { id name status type environment lastUsedAt usageCount } }
    pageInfo { hasNextPage endCursor }
  }
}

mutation RevokeKey($id: ID!, $reason: String) {
  revokeKey(id: $id, reason: $reason) { id status revokedAt statusReason }
}

query VerifyKey($key: String!, $requiredScopes: [String!]) {
  verifyKey(key: $key, requiredScopes: $requiredScopes) { valid code rateLimit { limit remaining resetAt } }
}

subscription AuditFeed($after: String) {
  auditEvents(after: $after) { id type occurredAt merchantId keyId actorKeyId operationName ip reason }
}
`;

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const CURL = (query: string) =>
  `curl -s <span data-origin>http://localhost:4000</span>/graphql -H 'content-type: application/json' \\\n  -H "authorization: Bearer $KEYRING_KEY" -d '${escapeHtml(JSON.stringify({ query }))}'`;

/**
 * What the page says when Apollo Sandbox's script cannot load from its CDN (offline, or a policy
 * blocks it): what keyring is and how to reach it without Sandbox. Sandbox, once loaded, covers it.
 */
function fallbackHtml(console: boolean): string {
  return `<div class="fallback keyring-fallback">
  <h1>keyring GraphQL API</h1>
  <p>Apollo Sandbox, the explorer usually shown here, could not be loaded: its script comes from
  embeddable-sandbox.cdn.apollographql.com, which this browser cannot reach (offline, or blocked).
  The API itself works: it is this address, <code><span data-origin>http://localhost:4000</span>/graphql</code>.</p>
  <h2>What to do</h2>
  <ul>
    ${console ? '<li>Open the <a href="/console">keyring console</a>: paste a key to watch the audit feed live and manage keys. It needs nothing from the internet.</li>' : ''}
    <li>Send operations with curl (put your key in <code>KEYRING_KEY</code>):
<pre>${CURL('{ viewer { keyId merchantId scopes admin } }')}</pre>
<pre>${CURL('{ apiKeys(first: 20) { totalCount edges { node { id name status lastUsedAt usageCount } } } }')}</pre>
<pre>${CURL('mutation { createKey(input: { name: "My backend", type: SECRET, scopes: ["keys:read"] }) { secret key { id } } }')}</pre></li>
    <li>On the server's machine: <code>npm run keys -- list</code>, <code>npm run keys -- tail</code>.</li>
    <li>Generate a typed client from <code>schema.graphql</code> (see the README).</li>
  </ul>
</div>`;
}

const FALLBACK_STYLE = `
  .keyring-fallback { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; line-height: 1.5; max-width: 48rem; margin: 0 auto; padding: 1.5rem; }
  .keyring-fallback h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
  .keyring-fallback h2 { font-size: 1.1rem; margin: 1.25rem 0 .25rem; }
  .keyring-fallback a { color: #2452c8; }
  .keyring-fallback pre { background: #f1f3f7; padding: .6rem .8rem; border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; }
  .keyring-fallback code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
  body.keyring-offline { overflow-y: auto !important; }
  body.keyring-offline #embeddableSandbox { display: none; }
  body.keyring-offline .keyring-fallback { opacity: 1; animation: none; }
`;

/** Shows the fallback at once (no fade, page scrolls) when Sandbox's script did not load, and names this origin. */
const FALLBACK_SCRIPT = `
  for (var node of document.querySelectorAll('[data-origin]')) node.textContent = location.origin;
  if (!window.EmbeddedSandbox) document.body.classList.add('keyring-offline');
`;

/**
 * Apollo Sandbox at GET /graphql: keyring's example operations, telemetry off, no web fonts, and
 * a page that still says what to do when Sandbox's script cannot load.
 */
export function sandboxLandingPage(options: { console: boolean }): ApolloServerPlugin {
  const sandbox = ApolloServerPluginLandingPageLocalDefault({
    embed: { endpointIsEditable: false, runTelemetry: false, initialState: { pollForSchemaUpdates: false } },
    footer: false,
    includeCookies: false,
    document: SANDBOX_DOCUMENT,
    variables: { input: { name: 'My backend', type: 'SECRET', environment: 'TEST', scopes: ['keys:read'] }, id: 'key_…', key: 'sk_test_…' },
    headers: { Authorization: 'Bearer <paste your API key here>' },
  });
  return {
    async serverWillStart(service) {
      const listener = await sandbox.serverWillStart!(service);
      return {
        async renderLandingPage() {
          const page = await listener!.renderLandingPage!();
          return { html: async () => keyringPage(typeof page.html === 'string' ? page.html : await page.html(), options.console) };
        },
      };
    },
  };
}

/** Apollo's page with keyring's fallback and style in, Google Fonts out; throws if Apollo's page changed shape. */
function keyringPage(html: string, console: boolean): string {
  const nonce = /'nonce-([0-9a-f]+)'/.exec(html)?.[1];
  const fallback = /<div class="fallback">[\s\S]*?<\/div>/;
  const fonts = /\s*<link rel="preconnect" href="https:\/\/fonts\.gstatic\.com" \/>\s*<link\s+href="https:\/\/fonts\.googleapis\.com[^"]*"\s+rel="stylesheet"\s*\/>/;
  if (!nonce || !fallback.test(html) || !fonts.test(html) || !html.includes('</body>')) throw new Error('Apollo Sandbox page changed: keyring cannot place its offline help');
  return html
    .replace(fonts, '')
    .replace(fallback, () => fallbackHtml(console))
    .replace('</body>', () => `<style nonce="${nonce}">${FALLBACK_STYLE}</style>\n<script nonce="${nonce}">${FALLBACK_SCRIPT}</script>\n</body>`);
}
