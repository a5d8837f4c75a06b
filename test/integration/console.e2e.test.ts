import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeInBrowser, expectAccessible, expectStatus, launchChromium, openConsole, screenshot } from '../helpers/browser.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const READER = ['audit:read', 'keys:read'];

describeInBrowser('live console in a real browser', () => {
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

  async function newPage(width = 1280, height = 800): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width, height } })).newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    pages.push(page);
    return page;
  }

  const use = (secret: string) => server.gql('{ viewer { keyId } }', {}, secret);

  it('before connecting: asks for a key, accessibly', async () => {
    const page = await newPage();
    await page.goto(`${server.url}/console`);
    await expectStatus(page, 'Not connected');
    expect(await page.textContent('#manage-note')).toContain('Connect');
    await screenshot(page, 'console-not-connected');
    await expectAccessible(page, 'not connected');
  });

  it('a key page: its settings, a usage chart whose totals are the counts a scripted load produced, its recent events', async () => {
    const viewer = await createKey(server, { merchantId: 'usage_m', name: 'Usage viewer', scopes: READER });
    const target = await createKey(server, {
      merchantId: 'usage_m',
      name: 'Metered key',
      scopes: [],
      rateLimit: { limit: 7, windowSeconds: 3600 },
      credits: { remaining: 100 },
      metadata: { plan: 'pro' },
      allowedIps: ['10.0.0.0/8'],
    });
    const codes: string[] = [];
    for (let i = 0; i < 9; i++) {
      const verified = await server.gql('query($key: String!) { verifyKey(key: $key, context: { ip: "10.1.2.3" }) { code } }', { key: target.secret });
      codes.push(verified.body.data.verifyKey.code);
    }
    expect(codes).toEqual([...Array(7).fill('VALID'), 'RATE_LIMITED', 'RATE_LIMITED']);

    const page = await newPage();
    await openConsole(page, server.url, viewer.secret);
    await page.locator(`tr[data-key-id="${target.id}"] button.key-link`).click();
    await page.waitForSelector('#key-page', { state: 'visible' });
    await page.waitForSelector('#key-details dd:has-text("10.0.0.0/8")');
    expect(await page.textContent('#key-details')).toContain('"plan":"pro"');
    const count = (field: string) => page.textContent(`#usage-totals [data-count="${field}"]`);
    // keyUsage is current within the ledger's flush interval: refresh until the load shows.
    await waitFor(async () => {
      if ((await count('valid')) === '7' && (await count('rateLimited')) === '2') return true;
      await page.click('#usage-refresh');
      await page.waitForTimeout(300);
      return false;
    }, 20_000);
    expect(await count('creditsSpent')).toBe('7');
    expect(await count('usageExceeded')).toBe('0');
    expect(await count('denied')).toBe('0');
    expect(await page.locator('svg.usage-chart rect.seg-valid').count()).toBeGreaterThan(0);
    expect(await page.locator('svg.usage-chart text.tick').allTextContents()).toContain('9');
    await page.waitForSelector(`#key-events li[data-type="KEY_CREATED"][data-key-id="${target.id}"]`);
    await screenshot(page, 'console-key-page-hours');
    await expectAccessible(page, 'key page, hours');

    await page.click('#usage-day');
    await page.waitForSelector('#usage-day[aria-pressed="true"]');
    await page.waitForSelector('#usage-caption:has-text("30 days")');
    expect(await count('valid')).toBe('7');
    expect(await count('rateLimited')).toBe('2');
    await screenshot(page, 'console-key-page-days');
    await expectAccessible(page, 'key page, days');

    const narrow = await newPage(390, 800);
    await openConsole(narrow, server.url, viewer.secret);
    await narrow.locator(`tr[data-key-id="${target.id}"] button.key-link`).click();
    await narrow.waitForSelector('#usage-totals [data-count="valid"]');
    expect(await narrow.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(narrow, 'console-key-page-390px');
    await expectAccessible(narrow, 'key page at 390 px');
  });

  it('shows a revocation made through the API as it happens, and never stores the key', async () => {
    const viewer = await createKey(server, { merchantId: 'console_m', name: 'Console viewer', scopes: READER });
    const victim = await createKey(server, { merchantId: 'console_m', name: 'Leaky key', scopes: [] });
    await use(victim.secret);
    const page = await newPage();
    await openConsole(page, server.url, viewer.secret);
    await page.waitForSelector(`tr[data-key-id="${victim.id}"]`);

    const revoked = await server.gql('mutation($id: ID!) { revokeKey(id: $id, reason: "leaked") { status } }', { id: victim.id });
    expect(revoked.body.data.revokeKey.status).toBe('REVOKED');
    const item = await page.waitForSelector('#events li[data-type="KEY_REVOKED"]', { timeout: 10_000 });
    expect(await item.textContent()).toContain('Leaky key');
    await page.waitForSelector(`tr[data-key-id="${victim.id}"] td.status-REVOKED`, { timeout: 10_000 });
    expect(await page.inputValue('#key')).toBe('');
    expect(await page.evaluate<string>('JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + location.href')).not.toContain(viewer.secret);
    await screenshot(page, 'console-live');
    await expectAccessible(page, 'live view');
  });

  it('opens with the recent history, then live events, each once, without the console’s own requests', async () => {
    const merchantId = 'history_m';
    const viewer = await createKey(server, { merchantId, name: 'History viewer', scopes: READER });
    const alpha = await createKey(server, { merchantId, name: 'Alpha', scopes: [] });
    for (let i = 0; i < 3; i++) await use(alpha.secret);
    await waitFor(async () => (await server.gql('{ auditEvents(filter: { merchantId: "history_m", types: [KEY_USED] }) { totalCount } }')).body.data.auditEvents.totalCount === 3);

    const page = await newPage();
    await openConsole(page, server.url, viewer.secret);
    // the history: Alpha's creation (by name, not id) and its uses, with the address and a date
    const created = page.locator(`#events li[data-type="KEY_CREATED"][data-key-id="${alpha.id}"]`);
    await expect.poll(() => created.textContent()).toContain('Alpha');
    expect(await created.textContent()).not.toContain(alpha.id);
    const used = page.locator(`#events li[data-type="KEY_USED"][data-key-id="${alpha.id}"]`);
    expect(await used.count()).toBe(3);
    expect(await used.first().locator('.ip').textContent()).toBe('127.0.0.1');
    expect(await used.first().locator('.when').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

    // a key created now shows its name once the list has it, not its raw id
    const fresh = await createKey(server, { merchantId, name: 'Brand new', scopes: [] });
    const freshRow = page.locator(`#events li[data-type="KEY_CREATED"][data-key-id="${fresh.id}"]`);
    await expect.poll(() => freshRow.textContent(), { timeout: 10_000 }).toContain('Brand new');
    expect(await freshRow.textContent()).not.toContain(fresh.id);
    await use(fresh.secret);
    await page.waitForSelector(`#events li[data-type="KEY_USED"][data-key-id="${fresh.id}"]`);

    // every event of the merchant since the first shown is there exactly once
    const listed = (await server.gql('{ auditEvents(first: 100, order: ASC, filter: { merchantId: "history_m" }) { edges { node { id } } } }')).body.data.auditEvents.edges.map((e: any) => e.node.id);
    await expect.poll(() => page.locator('#events li').evaluateAll((items) => items.map((li) => li.getAttribute('data-id')!).reverse()), { timeout: 10_000 }).toEqual(listed);

    // the console's own requests are kept out of sight, unless asked for
    const own = page.locator(`#events li[data-type="KEY_USED"][data-key-id="${(await use(viewer.secret)).body.data.viewer.keyId}"]`);
    expect(await own.count()).toBeGreaterThan(0);
    for (const item of await own.all()) expect(await item.isVisible()).toBe(false);
    await page.check('#show-own');
    expect(await own.first().isVisible()).toBe(true);
  });

  it('retries a refused reload of the keys after Retry-After, so the table never stays stale', async () => {
    const merchantId = 'stale_m';
    const viewer = await createKey(server, { merchantId, name: 'Tight viewer', scopes: READER, rateLimit: { limit: 8, windowSeconds: 10 } });
    const page = await newPage();
    await openConsole(page, server.url, viewer.secret);
    // use up the console key's limit, then change the list
    await waitFor(async () => (await use(viewer.secret)).status === 429, 10_000, 0);
    const late = await createKey(server, { merchantId, name: 'Late key', scopes: [] });
    await page.waitForSelector('#keys-error:text("reloading in")', { timeout: 10_000 });
    await page.waitForSelector(`tr[data-key-id="${late.id}"] td.status-ACTIVE`, { timeout: 25_000 });
    expect(await page.textContent('#keys-error')).toBe('');
    // a lifecycle change shows at once, whether or not a reload is allowed
    await waitFor(async () => (await use(viewer.secret)).status === 429, 10_000, 0);
    await server.gql('mutation($id: ID!) { disableKey(id: $id) { status } }', { id: late.id });
    await page.waitForSelector(`tr[data-key-id="${late.id}"] td.status-DISABLED`, { timeout: 10_000 });
  });

  it('a key without audit:read shows the FORBIDDEN answer and names the scope; without keys:read likewise', async () => {
    const keysOnly = await createKey(server, { merchantId: 'scope_m', name: 'Keys only', scopes: ['keys:read'] });
    const page = await newPage();
    await openConsole(page, server.url, keysOnly.secret, /FORBIDDEN.*audit:read/);
    expect(await page.textContent('#feed-error')).toMatch(/FORBIDDEN.*audit:read/);
    await page.waitForSelector(`tr[data-key-id="${keysOnly.id}"]`);
    await page.waitForTimeout(1_000);
    expect(await page.textContent('#status')).not.toContain('Reconnecting');

    const auditOnly = await createKey(server, { merchantId: 'scope_m', name: 'Audit only', scopes: ['audit:read'] });
    await openConsole(page, server.url, auditOnly.secret);
    expect(await page.textContent('#keys-error')).toMatch(/FORBIDDEN.*keys:read/);
  });

  it('revoking the console’s own key shows the 4403 message, and it stays', async () => {
    const viewer = await createKey(server, { merchantId: 'self_m', name: 'Doomed viewer', scopes: READER });
    const page = await newPage();
    await openConsole(page, server.url, viewer.secret);
    await server.gql('mutation($id: ID!) { revokeKey(id: $id) { status } }', { id: viewer.id });
    await expectStatus(page, /4403.*revoked/);
    await page.waitForTimeout(1_000);
    expect(await page.textContent('#status')).toMatch(/4403.*revoked/);
  });

  it('a key’s use count and its sparkline agree, and the sparkline has a scale', async () => {
    const merchantId = 'spark_m';
    const viewer = await createKey(server, { merchantId, name: 'Spark viewer', scopes: READER });
    const busy = await createKey(server, { merchantId, name: 'Busy', scopes: [] });
    for (let i = 0; i < 5; i++) await use(busy.secret);
    await waitFor(async () => (await server.gql('query($id: ID!) { apiKey(id: $id) { usageCount } }', { id: busy.id })).body.data.apiKey.usageCount === 5);
    const page = await newPage();
    await openConsole(page, server.url, viewer.secret);
    const row = page.locator(`tr[data-key-id="${busy.id}"]`);
    await expect.poll(() => row.locator('.uses').textContent()).toBe('5');
    expect(await row.locator('.spark-cell').getAttribute('data-total')).toBe('5');
    expect(await row.locator('.spark-caption').textContent()).toMatch(/^5 in 30 min · peak [1-5]\/min$/);
    for (let i = 0; i < 2; i++) await use(busy.secret);
    await expect.poll(() => row.locator('.uses').textContent(), { timeout: 10_000 }).toBe('7');
    await expect.poll(() => row.locator('.spark-cell').getAttribute('data-total')).toBe('7');
  });

  it('all merchants: a merchant column in the keys and the feed', async () => {
    await createKey(server, { merchantId: 'other_m', name: 'Elsewhere', scopes: [] });
    const page = await newPage();
    await openConsole(page, server.url, server.adminKey);
    expect(await page.isVisible('#merchant-head')).toBe(true);
    await page.waitForSelector('tr td[data-label="Merchant"]:text("other_m")');
    await page.waitForSelector('#events li .merchant:text("other_m")');
  });

  it('at 390 px: no sideways scroll, whole event types, details kept', async () => {
    const page = await newPage(390, 844);
    await openConsole(page, server.url, server.adminKey);
    await page.check('#show-own');
    await page.waitForSelector('#events li[data-type="KEY_USED"] .details');
    await page.waitForSelector('#keys tr');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    const cut = await page.locator('#events li .type').evaluateAll((types) =>
      types.filter((t) => t.scrollWidth > t.clientWidth || t.getBoundingClientRect().right > 390).map((t) => t.textContent),
    );
    expect(cut).toEqual([]);
    const details = page.locator('#events li[data-type="KEY_USED"] .details').first();
    expect(await details.isVisible()).toBe(true);
    expect((await details.boundingBox())!.width).toBeGreaterThan(100);
    await screenshot(page, 'console-390px');
    await expectAccessible(page, 'live view at 390 px');
  });
});
