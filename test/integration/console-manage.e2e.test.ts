import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeInBrowser, expectAccessible, launchChromium, openConsole, screenshot } from '../helpers/browser.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const MANAGER = ['audit:read', 'keys:read', 'keys:write'];

describeInBrowser('managing keys in the console', () => {
  let server: TestServer;
  let browser: Browser;
  const pages: Page[] = [];
  const problems: string[] = [];
  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((page) => page.context().close()));
    expect(problems.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function managerPage(merchantId: string, scopes = MANAGER, width = 1280): Promise<{ page: Page; id: string }> {
    const manager = await createKey(server, { merchantId, name: `Manager of ${merchantId}`, scopes });
    const page = await (await browser.newContext({ viewport: { width, height: 900 } })).newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    pages.push(page);
    await openConsole(page, server.url, manager.secret);
    return { page, id: manager.id };
  }

  const row = (page: Page, id: string) => page.locator(`tr[data-key-id="${id}"]`);

  it('create: the secret shows once with a copy button; revoke: the event arrives live and the status changes', async () => {
    const { page } = await managerPage('manage_m');
    await page.waitForSelector('#create-scopes input[value="keys:read"]');
    await page.fill('#create-name', 'Made in the console');
    await page.selectOption('#create-type', 'SECRET');
    await page.check('#create-scopes input[value="keys:read"]');
    await page.fill('#create-limit', '10');
    await page.fill('#create-window', '60');
    await page.fill('#create-expires', '2030-01-01T12:00');
    await page.click('#create button[type=submit]');

    await page.waitForSelector('#secret-once', { state: 'visible' });
    expect(await page.textContent('#secret-once')).toContain('you will not see it again');
    expect(await page.isVisible('#copy-secret')).toBe(true);
    const secret = (await page.textContent('#secret-value'))!;
    expect(secret).toMatch(/^sk_test_/);
    const made = await server.gql('{ viewer { keyId scopes rateLimit { limit } expiresAt } }', {}, secret);
    expect(made.body.data.viewer).toMatchObject({ scopes: ['keys:read'], rateLimit: { limit: 10 } });
    expect(new Date(made.body.data.viewer.expiresAt).getFullYear()).toBe(2030);
    const id = made.body.data.viewer.keyId;
    await screenshot(page, 'console-secret-once');
    await expectAccessible(page, 'secret shown once');

    await page.click('#dismiss-secret');
    expect(await page.isVisible('#secret-once')).toBe(false);
    expect(await page.content()).not.toContain(secret);

    await row(page, id).locator('button.action-revoke').click();
    await page.waitForSelector('#action-dialog[open]');
    expect(await page.textContent('#action-text')).toContain('final');
    await page.fill('#action-reason', 'no longer needed');
    await screenshot(page, 'console-revoke-dialog');
    await expectAccessible(page, 'revoke dialog');
    await page.click('#action-confirm');
    const event = page.locator(`#events li[data-type="KEY_REVOKED"][data-key-id="${id}"]`);
    await event.waitFor({ timeout: 10_000 });
    expect(await event.textContent()).toContain('no longer needed');
    expect(await event.textContent()).toContain('Made in the console');
    await row(page, id).locator('td.status-REVOKED').waitFor();
    expect((await server.gql('{ viewer { keyId } }', {}, secret)).status).toBe(401);
  });

  it('disable, enable and rotate with a grace period, each confirmed', async () => {
    const { page } = await managerPage('cycle_m');
    const target = await createKey(server, { merchantId: 'cycle_m', name: 'Cycled', scopes: [] });
    await row(page, target.id).waitFor();
    await row(page, target.id).locator('button.action-disable').click();
    await page.fill('#action-reason', 'pause');
    await page.click('#action-confirm');
    await row(page, target.id).locator('td.status-DISABLED').waitFor();
    await row(page, target.id).locator('button.action-enable').click();
    await page.click('#action-confirm');
    await row(page, target.id).locator('td.status-ACTIVE').waitFor();

    await row(page, target.id).locator('button.action-rotate').click();
    await page.fill('#action-grace', '120');
    await page.click('#action-confirm');
    await page.waitForSelector('#secret-once', { state: 'visible' });
    const secret = (await page.textContent('#secret-value'))!;
    const rotated = await server.gql('{ viewer { keyId name } }', {}, secret);
    expect(rotated.body.data.viewer.name).toBe('Cycled');
    await row(page, rotated.body.data.viewer.keyId).waitFor();
    // the old key still works during its grace period, and now expires
    const old = await server.gql('query($id: ID!) { apiKey(id: $id) { status expiresAt } }', { id: target.id });
    expect(old.body.data.apiKey.status).toBe('ACTIVE');
    expect(Date.parse(old.body.data.apiKey.expiresAt) - Date.now()).toBeGreaterThan(60_000);
  });

  it('shows each coded error next to the field it concerns, and creates nothing', async () => {
    const { page } = await managerPage('errors_m');
    const before = (await server.gql('{ apiKeys(merchantId: "errors_m") { totalCount } }')).body.data.apiKeys.totalCount;
    await page.waitForSelector('#create-scopes input[value="keys:read"]');
    await page.fill('#create-name', 'bad <name>');
    await page.fill('#create-limit', '0');
    await page.click('#create button[type=submit]');
    await page.waitForSelector('[data-error-for="input.name"]:not(:empty)');
    expect(await page.getAttribute('#create-name', 'aria-invalid')).toBe('true');
    await page.waitForSelector('[data-error-for="input.rateLimit.limit"]:not(:empty)');
    expect(await page.isVisible('#secret-once')).toBe(false);

    // a scope the caller does not hold is refused next to the scopes
    await page.fill('#create-name', 'Too mighty');
    await page.fill('#create-limit', '');
    await page.check('#create-scopes input[value="admin"]');
    await page.click('#create button[type=submit]');
    await page.waitForSelector('[data-error-for="input.scopes"]:not(:empty), [data-error-for="input"]:not(:empty)');
    await screenshot(page, 'console-field-errors');
    await expectAccessible(page, 'field errors');
    expect((await server.gql('{ apiKeys(merchantId: "errors_m") { totalCount } }')).body.data.apiKeys.totalCount).toBe(before);
  });

  it('create with credits, metadata and an allowlist; each bad part refused next to its field', async () => {
    const { page } = await managerPage('extras_m');
    await page.waitForSelector('#create-scopes input[value="keys:read"]');
    await page.fill('#create-name', 'Metered');
    await page.fill('#create-credits', '-1');
    await page.fill('#create-allowed-ips', '10.0.0.0/8\nnot-an-address');
    await page.click('#create button[type=submit]');
    await page.waitForSelector('[data-error-for="input.credits.remaining"]:not(:empty)');
    await page.waitForSelector('[data-error-for="input.allowedIps"]:not(:empty)');
    expect(await page.getAttribute('#create-credits', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#create-allowed-ips', 'aria-invalid')).toBe('true');
    await page.fill('#create-metadata', '[1, 2]');
    await page.click('#create button[type=submit]');
    await page.waitForSelector('[data-error-for="input.metadata"]:not(:empty)');
    expect(await page.textContent('[data-error-for="input.metadata"]')).toContain('JSON object');
    await screenshot(page, 'console-create-extras-errors');
    await expectAccessible(page, 'create errors for credits, metadata and allowlist');
    expect((await server.gql('{ apiKeys(merchantId: "extras_m") { totalCount } }')).body.data.apiKeys.totalCount).toBe(1);

    await page.fill('#create-credits', '100');
    await page.selectOption('#create-refill', 'MONTHLY');
    await page.fill('#create-refill-amount', '500');
    await page.fill('#create-anchor-day', '15');
    await page.fill('#create-metadata', '{"plan": "pro", "seats": 3}');
    await page.fill('#create-allowed-ips', '10.0.0.0/8,\n192.168.1.0/24');
    await page.click('#create button[type=submit]');
    await page.waitForSelector('#secret-once', { state: 'visible' });
    const listed = await server.gql('{ apiKeys(merchantId: "extras_m") { edges { node { name allowedIps metadata credits { remaining refill { amount interval anchorDay } } } } } }');
    expect(listed.body.data.apiKeys.edges.map((edge: { node: unknown }) => edge.node)).toContainEqual({
      name: 'Metered',
      allowedIps: ['10.0.0.0/8', '192.168.1.0/24'],
      metadata: { plan: 'pro', seats: 3 },
      credits: { remaining: 100, refill: { amount: 500, interval: 'MONTHLY', anchorDay: 15 } },
    });
    await screenshot(page, 'console-create-extras');
    await expectAccessible(page, 'create with credits, metadata and allowlist');
  });

  it('edit: changes what updateKey changes and adds credits; each error next to its field, nothing changed on refusal', async () => {
    const { page } = await managerPage('edit_m');
    const target = await createKey(server, { merchantId: 'edit_m', name: 'Before', scopes: [], credits: { remaining: 5 }, metadata: { plan: 'free' }, rateLimit: { limit: 30, windowSeconds: 60 } });
    await row(page, target.id).waitFor();
    await page.waitForSelector('#create-scopes input[value="keys:read"]');
    await row(page, target.id).locator('button.action-edit').click();
    await page.waitForSelector('#edit-dialog[open]');
    expect(await page.inputValue('#edit-name')).toBe('Before');
    expect(JSON.parse(await page.inputValue('#edit-metadata'))).toEqual({ plan: 'free' });

    await page.fill('#edit-name', 'bad <name>');
    await page.fill('#edit-allowed-ips', '10.0.0.0/8, nope');
    await page.fill('#edit-limit', '0');
    await page.click('#edit-confirm');
    await page.waitForSelector('#edit-form [data-error-for="input.name"]:not(:empty)');
    await page.waitForSelector('#edit-form [data-error-for="input.allowedIps"]:not(:empty)');
    await page.waitForSelector('#edit-form [data-error-for="input.rateLimit.limit"]:not(:empty)');
    expect(await page.getAttribute('#edit-allowed-ips', 'aria-invalid')).toBe('true');
    await screenshot(page, 'console-edit-errors');
    await expectAccessible(page, 'edit form with errors');
    const unchanged = await server.gql('query($id: ID!) { apiKey(id: $id) { name allowedIps rateLimit { limit } } }', { id: target.id });
    expect(unchanged.body.data.apiKey).toEqual({ name: 'Before', allowedIps: [], rateLimit: { limit: 30 } });

    await page.fill('#edit-name', 'After');
    await page.fill('#edit-allowed-ips', '10.0.0.0/8\n192.168.0.0/16');
    await page.fill('#edit-limit', '12');
    await page.check('#edit-scopes input[value="keys:read"]');
    await page.fill('#edit-metadata', '{"plan": "pro"}');
    await page.fill('#edit-expires', '2031-06-01T09:30');
    await page.fill('#edit-grant', '20');
    await page.click('#edit-confirm');
    await page.waitForSelector('#edit-dialog', { state: 'hidden' });
    await row(page, target.id).locator('.name', { hasText: 'After' }).waitFor();
    const after = await server.gql('query($id: ID!) { apiKey(id: $id) { name scopes allowedIps metadata expiresAt rateLimit { limit windowSeconds } credits { remaining } } }', { id: target.id });
    expect(after.body.data.apiKey).toMatchObject({
      name: 'After',
      scopes: ['keys:read'],
      allowedIps: ['10.0.0.0/8', '192.168.0.0/16'],
      metadata: { plan: 'pro' },
      rateLimit: { limit: 12, windowSeconds: 60 },
      credits: { remaining: 25 },
    });
    expect(new Date(after.body.data.apiKey.expiresAt).getFullYear()).toBe(2031);
    expect(await row(page, target.id).locator('td.credits').textContent()).toContain('25');
  });

  it('a key without keys:write sees management disabled and why', async () => {
    const { page, id } = await managerPage('readonly_m', ['audit:read', 'keys:read']);
    await row(page, id).waitFor();
    expect(await page.isDisabled('#create button[type=submit]')).toBe(true);
    expect(await page.textContent('#manage-note')).toContain('keys:write');
    expect(await page.isVisible('#manage-note')).toBe(true);
    expect(await page.locator('#keys button.action').count()).toBe(0);
    await screenshot(page, 'console-read-only');
    await expectAccessible(page, 'read-only management');
  });

  it('management fits a 390 px screen', async () => {
    const { page, id } = await managerPage('narrow_m', MANAGER, 390);
    await row(page, id).locator('button.action-revoke').waitFor();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(page, 'console-manage-390px');
    await expectAccessible(page, 'management at 390 px');
  });
});
