import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** GET with a chosen Host header (fetch does not let a caller set it); answers the console's policy. */
function policyFor(url: string, path: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { host } }, (res) => {
      res.resume();
      expect(res.statusCode).toBe(200);
      resolve(String(res.headers['content-security-policy']));
    });
    req.once('error', reject);
    req.end();
  });
}

const connectSrc = (policy: string) => /(?:^|;\s*)connect-src ([^;]*)/.exec(policy)?.[1]?.trim().split(/\s+/);

describe('console Content-Security-Policy', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { CONSOLE: 'true' } });
  });
  afterAll(() => server?.stop());

  it('lets the page connect to its own origin only, WebSockets included', async () => {
    const host = new URL(server.url).host;
    for (const path of ['/console', '/console/main.js', '/console/console.css']) {
      const policy = await policyFor(server.url, path, host);
      expect(connectSrc(policy), path).toEqual(["'self'", `ws://${host}`, `wss://${host}`]);
      expect(policy).toContain("default-src 'none'");
      expect(policy).toContain("script-src 'self'");
      expect(policy).toContain("style-src 'self'");
      expect(policy).not.toContain('unsafe-inline');
    }
    expect(connectSrc(await policyFor(server.url, '/console', 'keys.example.com'))).toEqual(["'self'", 'ws://keys.example.com', 'wss://keys.example.com']);
    expect(connectSrc(await policyFor(server.url, '/console', '[::1]:4000'))).toEqual(["'self'", 'ws://[::1]:4000', 'wss://[::1]:4000']);
  });

  it('never writes a Host header it does not recognise into the policy', async () => {
    for (const host of ['evil.example; script-src *', 'a b', 'example.com/path', '*.example.com', '-bad.example']) {
      const policy = await policyFor(server.url, '/console', host);
      expect(connectSrc(policy), host).toEqual(["'self'"]);
      expect(policy).not.toContain('script-src *');
    }
  });
});
