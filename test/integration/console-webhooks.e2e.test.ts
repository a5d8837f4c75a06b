import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeInBrowser, expectAccessible, launchChromium, openConsole, screenshot } from '../helpers/browser.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const WEBHOOKER = ['audit:read', 'keys:read', 'webhooks:read', 'webhooks:write'];

describeInBrowser('webhooks in the console', () => {
  let server: TestServer;
  let browser: Browser;
  let receiver: Receiver;
  const pages: Page[] = [];
  const problems: string[] = [];
  beforeAll(async () => {
    server = await startTestServer({ env: { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_MS: '100' } });
    browser = await launchChromium();
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((page) => page.context().close()));
    expect(problems.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await server?.stop();
  });

  async function consolePage(merchantId: string, scopes: string[], width = 1280): Promise<Page> {
    const key = await createKey(server, { merchantId, name: `Webhooks of ${merchantId}`, scopes });
    const page = await (await browser.newContext({ viewport: { width, height: 900 } })).newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    pages.push(page);
    await openConsole(page, server.url, key.secret);
    return page;
  }

  const endpoints = async (merchantId: string) =>
    (await server.gql('query($m: String) { webhooks(merchantId: $m) { edges { node { id url status types } } } }', { m: merchantId })).body.data.webhooks.edges.map(
      (edge: { node: unknown }) => edge.node,
    );

  it('add an endpoint (secret shown once), see its deliveries with status and error, disable, enable, delete', async () => {
    const page = await consolePage('hooks_m', WEBHOOKER);
    await page.waitForSelector('#webhooks-panel', { state: 'visible' });
    await page.waitForSelector('#webhooks-note:has-text("No endpoints")');

    // a refused endpoint: the error sits next to the field it concerns, nothing is created
    await page.fill('#webhook-url', 'ftp://example.com/hook');
    await page.click('#webhook-create button[type=submit]');
    await page.waitForSelector('#webhook-create [data-error-for="input.url"]:not(:empty)');
    await page.waitForSelector('#webhook-create [data-error-for="input.types"]:not(:empty)');
    expect(await endpoints('hooks_m')).toEqual([]);

    await page.fill('#webhook-url', receiver.url);
    await page.check('#webhook-types input[value="KEY_CREATED"]');
    await page.click('#webhook-create button[type=submit]');
    await page.waitForSelector('#webhook-secret-once', { state: 'visible' });
    const secret = (await page.textContent('#webhook-secret-value'))!;
    expect(secret).toMatch(/^whsec_/);
    receiver.setSecret(secret);
    const [made] = await endpoints('hooks_m');
    expect(made).toMatchObject({ url: receiver.url, status: 'ACTIVE', types: ['KEY_CREATED'] });
    const card = page.locator(`li.webhook[data-webhook-id="${made.id}"]`);
    await card.waitFor();
    await screenshot(page, 'console-webhook-secret-once');
    await expectAccessible(page, 'webhook secret shown once');
    await page.click('#dismiss-webhook-secret');
    expect(await page.content()).not.toContain(secret);

    // one delivery refused by the receiver, then one taken
    receiver.failNext(1, 500);
    await createKey(server, { merchantId: 'hooks_m', name: 'Delivered', scopes: [] });
    await waitFor(async () => {
      if ((await card.locator('.deliveries li:has-text("HTTP 500")').count()) && (await card.locator('.deliveries li:has-text("HTTP 2")').count())) return true;
      await page.click('#webhooks-refresh');
      await page.waitForTimeout(300);
      return false;
    }, 20_000);
    expect(await card.locator('.deliveries li').first().locator('time').count()).toBe(1);
    expect(receiver.badSignatures).toBe(0);
    await screenshot(page, 'console-webhooks');
    await expectAccessible(page, 'webhooks with deliveries');

    await card.locator('button.action-disable').click();
    await card.locator('.webhook-status:has-text("DISABLED")').waitFor();
    expect((await endpoints('hooks_m'))[0].status).toBe('DISABLED');
    await card.locator('button.action-enable').click();
    await card.locator('button.action-disable').waitFor();
    expect((await endpoints('hooks_m'))[0].status).not.toBe('DISABLED');

    page.once('dialog', (dialog) => void dialog.accept());
    await card.locator('button.action-delete').click();
    await card.waitFor({ state: 'detached' });
    expect(await endpoints('hooks_m')).toEqual([]);
  });

  it('webhooks:read alone lists without changing; without it the view is not shown', async () => {
    await server.gql('mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret } }', {
      input: { url: receiver.url, types: ['KEY_REVOKED'], merchantId: 'hooks_ro' },
    });
    const reader = await consolePage('hooks_ro', ['audit:read', 'keys:read', 'webhooks:read']);
    await reader.locator('li.webhook').waitFor();
    expect(await reader.isVisible('#webhook-create')).toBe(false);
    expect(await reader.locator('li.webhook button').count()).toBe(0);
    await screenshot(reader, 'console-webhooks-read-only');
    await expectAccessible(reader, 'webhooks read-only');

    const other = await consolePage('hooks_none', ['audit:read', 'keys:read']);
    expect(await other.isVisible('#webhooks-panel')).toBe(false);
  });

  it('the webhooks view fits a 390 px screen', async () => {
    await server.gql('mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret } }', {
      input: { url: `${receiver.url}/a-rather-long-path/that-should-wrap/instead-of-scrolling`, types: ['KEY_CREATED', 'KEY_REVOKED', 'KEY_USED'], merchantId: 'hooks_narrow' },
    });
    const page = await consolePage('hooks_narrow', WEBHOOKER, 390);
    await page.locator('li.webhook').waitFor();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(page, 'console-webhooks-390px');
    await expectAccessible(page, 'webhooks at 390 px');
  });
});
