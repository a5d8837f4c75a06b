import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_DOCUMENT } from '../../src/server/sandbox.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { parse, validate } from 'graphql';
import { createSchema } from '../../src/graphql/schema.js';

describe('Apollo Sandbox', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('opens with the example operations and an Authorization header hint', async () => {
    const res = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const name of ['WhoAmI', 'CreateKey', 'ListKeys', 'RevokeKey', 'AuditFeed']) expect(html).toContain(name);
    expect(html).toContain('Authorization');
    expect(html).toContain('Bearer');
  });

  it('runs Sandbox with its telemetry off, loads no web fonts, and carries the offline help', async () => {
    const html = await (await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(html).toContain('"runTelemetry":false');
    expect(html).not.toContain('"runTelemetry":true');
    expect(html).not.toMatch(/<link[^>]*fonts\.(googleapis|gstatic)\.com/);
    expect(html).toContain('<a href="/console">');
    expect(html).toContain('curl -s');
  });

  it('preloads operations that are valid against the schema', async () => {
    const errors = validate(await createSchema(), parse(SANDBOX_DOCUMENT));
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
