import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(`[console.e2e] skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

describe.skipIf(!available && !process.env.CI)('live console in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    if (!available) throw new Error(`CI is set but no Chromium is installed at ${CHROMIUM}`);
    server = await startTestServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows a revocation made through the API as it happens', async () => {
    const viewer = await createKey(server, { merchantId: 'console_m', name: 'Console viewer', scopes: ['audit:read', 'keys:read'] });
    const victim = await createKey(server, { merchantId: 'console_m', name: 'Leaky key', scopes: [] });
    await server.gql('{ viewer { keyId } }', {}, victim.secret);

    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${server.url}/console`);
    await page.fill('#key', viewer.secret);
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("Live")', { timeout: 10_000 });
    await page.waitForSelector(`tr[data-key-id="${victim.id}"]`);

    const revoked = await server.gql('mutation($id: ID!) { revokeKey(id: $id, reason: "leaked") { status } }', { id: victim.id });
    expect(revoked.body.data.revokeKey.status).toBe('REVOKED');

    const item = await page.waitForSelector('#events li[data-type="KEY_REVOKED"]', { timeout: 10_000 });
    expect(await item.textContent()).toContain('Leaky key');
    await page.waitForSelector(`tr[data-key-id="${victim.id}"] td.status-REVOKED`, { timeout: 10_000 });
    // the page never keeps the key in its input or in storage
    expect(await page.inputValue('#key')).toBe('');
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))).not.toContain(viewer.secret);
    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/console.png', fullPage: true });
    expect(problems).toEqual([]);
  });
});
