import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInBrowser, expectAccessible, launchChromium, screenshot } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describeInBrowser('Apollo Sandbox without network access', () => {
  let server: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium({ offline: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('still says what to do (the console, curl) in a readable style, and reaches no other host', async () => {
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    const page = await context.newPage();
    const elsewhere: string[] = [];
    // Belt and braces with the resolver rules: anything not on this machine is aborted, and noted.
    await context.route(
      (url) => url.hostname !== '127.0.0.1' && url.hostname !== 'localhost',
      (route) => {
        elsewhere.push(new URL(route.request().url()).hostname);
        return route.abort('internetdisconnected');
      },
    );
    await page.goto(`${server.url}/graphql`);
    const help = page.locator('.keyring-fallback');
    await help.waitFor({ state: 'visible' });
    await page.waitForSelector('body.keyring-offline');
    expect(await help.locator('a[href="/console"]').textContent()).toContain('console');
    expect(await help.textContent()).toContain(`curl -s ${server.url}/graphql`);
    expect(await help.locator('pre').count()).toBeGreaterThanOrEqual(2);
    // not bare Times: the page's own style applies, and the fallback is shown at once, fully opaque
    expect(await help.evaluate((node) => node.ownerDocument.defaultView!.getComputedStyle(node).fontFamily)).toContain('system-ui');
    expect(await help.evaluate((node) => node.ownerDocument.defaultView!.getComputedStyle(node).opacity)).toBe('1');
    // the hosts tried are Apollo's CDN (Sandbox's script, its icon): no Google Fonts, nothing else
    expect(elsewhere).toContain('embeddable-sandbox.cdn.apollographql.com');
    expect(elsewhere.filter((host) => !host.endsWith('.cdn.apollographql.com'))).toEqual([]);
    await screenshot(page, 'sandbox-offline');
    await expectAccessible(page, 'Sandbox offline page');
    await context.close();
  });
});
