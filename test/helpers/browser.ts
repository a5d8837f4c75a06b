import { existsSync, mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describe, expect } from 'vitest';

/** The Chromium the browser suites drive (apt-get install chromium), headless. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * A describe that runs in real Chromium: skipped (with a warning) without one, and failing under
 * CI without one. A browser and axe's checks are slow on a busy machine: each test gets 90 s.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (!available && !process.env.CI) console.warn(`[${name}] skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  describe.skipIf(!available && !process.env.CI)(name, { timeout: 90_000 }, body);
}

/**
 * Launches headless Chromium. `offline`: every host but 127.0.0.1 and localhost resolves
 * nowhere, as on a machine without network access.
 */
export async function launchChromium(options: { offline?: boolean } = {}): Promise<Browser> {
  if (!available) throw new Error(`CI is set but no Chromium is installed at ${CHROMIUM}`);
  const offline = options.offline ? ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'] : [];
  return chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...offline] });
}

/** Opens the console and connects with `secret`; resolves once the status line shows `status`. */
export async function openConsole(page: Page, url: string, secret: string, status: string | RegExp = 'Live'): Promise<void> {
  await page.goto(`${url}/console`);
  await page.fill('#key', secret);
  await page.click('#connect button');
  await expectStatus(page, status);
}

export async function expectStatus(page: Page, status: string | RegExp, timeout = 10_000): Promise<void> {
  const pattern = typeof status === 'string' ? new RegExp(`^${status.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : status;
  await page.locator('#status').filter({ hasText: pattern }).waitFor({ timeout });
}

/** Saves a full-page screenshot under test/artifacts/ (ignored by git). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync('test/artifacts', { recursive: true });
  await page.screenshot({ path: `test/artifacts/${name}.png`, fullPage: true });
}

/** axe-core's check of the page as it stands: no serious or critical violation. */
export async function expectAccessible(page: Page, view: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(bad, view).toEqual([]);
}
