import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function serve(env: Record<string, string>): Promise<TestServer> {
  const server = await startTestServer({ env });
  servers.push(server);
  return server;
}

async function scrape(url: string, authorization?: string): Promise<{ status: number; body: string; challenge: string | null }> {
  const res = await fetch(`${url}/metrics`, { headers: authorization ? { authorization } : {} });
  return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') };
}

/** The metrics listener's address, from its log line. */
async function metricsUrl(server: TestServer): Promise<string> {
  const line = await waitFor(() => server.logs.find((text) => text.includes('"metrics listening"')));
  return `http://127.0.0.1:${JSON.parse(line).port}`;
}

describe('/metrics in production', () => {
  it('is not served to anyone on the API port without METRICS_TOKEN or METRICS_PORT, and says how to turn it on', async () => {
    const server = await serve({ NODE_ENV: 'production' });
    expect((await scrape(server.url)).status).toBe(404);
    expect(server.logs.some((line) => line.includes('METRICS_TOKEN or METRICS_PORT'))).toBe(true);
  });

  it('with METRICS_TOKEN, answers only a request bearing the token', async () => {
    const server = await serve({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN });
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN]) {
      const refused = await scrape(server.url, authorization);
      expect(refused.status, String(authorization)).toBe(401);
      expect(refused.challenge).toMatch(/^Bearer/);
      expect(refused.body).toBe('');
    }
    const served = await scrape(server.url, `Bearer ${TOKEN}`);
    expect(served.status).toBe(200);
    expect(served.body).toContain('keyring_requests_total');
    expect(server.logs.join('\n')).not.toContain(TOKEN);
  });

  it('with METRICS_PORT, is served on its own listener only', async () => {
    const server = await serve({ NODE_ENV: 'production', METRICS_PORT: '0' });
    expect((await scrape(server.url)).status).toBe(404);
    const own = await metricsUrl(server);
    const served = await scrape(own);
    expect(served.status).toBe(200);
    expect(served.body).toContain('keyring_requests_total');
    expect((await fetch(`${own}/graphql`)).status).toBe(404);
  });

  it('with both, the own listener requires the token too', async () => {
    const server = await serve({ NODE_ENV: 'production', METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
    const own = await metricsUrl(server);
    expect((await scrape(own)).status).toBe(401);
    expect((await scrape(own, `Bearer ${TOKEN}`)).status).toBe(200);
    expect((await scrape(server.url, `Bearer ${TOKEN}`)).status).toBe(404);
  });
});

describe('/metrics outside production', () => {
  it('stays open without a token, and requires METRICS_TOKEN once it is set', async () => {
    const open = await serve({});
    expect((await scrape(open.url)).status).toBe(200);
    const guarded = await serve({ METRICS_TOKEN: TOKEN });
    expect((await scrape(guarded.url)).status).toBe(401);
    expect((await scrape(guarded.url, `bearer ${TOKEN}`)).status).toBe(200);
  });
});
