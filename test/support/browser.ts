/**
 * Headless Chromium for the dashboard's browser tests: Debian's `chromium` package driven by
 * playwright-core (no downloaded browser). One browser per test file; each page at 1280×800 records
 * dialogs (an XSS would open one), page errors and Content-Security-Policy violations.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** A skip message when there is no Chromium here (.ci/run installs it), else undefined. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium): browser test skipped`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

export interface WatchedPage {
  readonly page: Page;
  /** Messages of dialogs the page opened (each dismissed at once). */
  readonly dialogs: string[];
  /** Uncaught exceptions and console errors, CSP violations among them. */
  readonly errors: string[];
}

export async function openPage(browser: Browser, url: string): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Generous: a loaded 2-core machine runs hubs, a device and the browser at once.
  page.setDefaultTimeout(30_000);
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, dialogs, errors };
}

/**
 * Errors a test should fail on: any, except the page's own report of a refused request (a 4xx the
 * test provoked shows in Chromium's console as "Failed to load resource").
 */
export function unexpectedErrors(w: WatchedPage): string[] {
  return w.errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
}
