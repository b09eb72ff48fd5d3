/**
 * The real `dominion dashboard` in a real Chromium on prepared hub databases:
 * - 100,000 enrolled devices: the fleet view's first page shows 50 rows and the right total, and
 *   pages, searches and filters on the server (the time it takes is measured by
 *   `npm run bench -- dashboard`, not asserted here);
 * - a device that reported an actor named `<img src=x onerror=alert(1)>` to a real hub core (signed,
 *   decided and committed as a hub does): the name renders as text, no element is made, no dialog opens.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { enrolBigFleet } from '../../../bench/dashboard/big-fleet.ts';
import { startDashboard, type DashboardProcess } from '../../../bench/dashboard/processes.ts';
import { chromiumMissing, launchBrowser, openPage, unexpectedErrors } from '../../support/browser.ts';
import { deviceRuntime, domainRuntime, signedRequest, sqliteIhFixture, tempDir } from '../../hub/fixtures.ts';

const skip = chromiumMissing();
const DEVICES = 100_000;
const XSS = '<img src=x onerror=alert(1)>';
let browser: Browser;
let big: DashboardProcess;
let hostile: DashboardProcess;
let hostileDevice: string;

before(async () => {
  if (skip !== undefined) return;
  const bigDb = join(tempDir('dashboard-big-'), 'ih.db');
  enrolBigFleet(bigDb, DEVICES);

  // A device whose mm reports an actor named with markup, and sw a firmware version carrying some:
  // the hub withholds (foreign actor) and records what it was told.
  const fx = sqliteIhFixture(tempDir('dashboard-xss-'));
  const now = Date.now();
  fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('<svg onload=alert(3)>')).bytes, now);
  const d = fx.ask(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', domainRuntime([{ name: 'receiver' }, { name: XSS }])).bytes, now);
  assert.equal(d.reason, 'foreign-actor');
  fx.commit();
  fx.store.close();
  hostileDevice = fx.dev.deviceId;

  [browser, big, hostile] = await Promise.all([launchBrowser(), startDashboard([bigDb]), startDashboard([fx.path])]);
});

after(async () => {
  await browser?.close();
  await Promise.all([big?.stop(), hostile?.stop()]);
});

test('100,000 devices: the first page shows 50 rows and the total; paging and search go to the server', { skip }, async () => {
  const w = await openPage(browser, big.url);
  const { page } = w;
  await page.locator('#device-total[data-total]').waitFor();
  assert.equal(await page.locator('#devices tbody tr[data-device]').count(), 50);
  assert.equal(await page.locator('#device-total').getAttribute('data-total'), String(DEVICES));
  assert.equal(await page.locator('#device-total').textContent(), '1–50 of 100,000');
  assert.equal(await page.locator('#devices tbody tr').first().getAttribute('data-device'), 'dev-000000');
  await page.locator('.count[data-state="NEVER"] .count-n', { hasText: '100,000' }).waitFor();
  // Asked for once: index.html's preload and first-page.js's fetch are one request (a URL or mode
  // that drifted apart would fetch it twice).
  const firstPageFetches = `performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/devices?')).length`;
  assert.equal(await page.evaluate(firstPageFetches), 1);

  await page.locator('#page-next').click();
  await page.locator('#devices tbody tr[data-device="dev-000050"]').waitFor();
  await page.locator('#device-search').fill('dev-09999');
  await page.locator('#device-total[data-total="10"]').waitFor();
  assert.equal(await page.locator('#devices tbody tr').first().getAttribute('data-device'), 'dev-099990');
  await page.locator('button.sort[data-sort="id"]').click();
  // Sorted by id, descending now: the server sends the last ten first.
  await page.locator('#devices tbody tr:first-child[data-device="dev-099999"]').waitFor();
  assert.equal(await page.locator('#devices tbody tr').last().getAttribute('data-device'), 'dev-099990');
  await page.locator('#state-filter').selectOption('OK');
  await page.locator('#device-total[data-total="0"]').waitFor();
  assert.deepEqual(unexpectedErrors(w), []);
  await page.context().close();
});

test('an actor named <img src=x onerror=alert(1)>, reported to a real hub, renders as text', { skip }, async () => {
  const w = await openPage(browser, hostile.url);
  const { page } = w;
  await page.locator(`#devices a.device-link`, { hasText: hostileDevice }).click();
  await page.locator('#device-id', { hasText: hostileDevice }).waitFor();
  const shown = page.getByText(XSS, { exact: false });
  await shown.first().waitFor();
  assert.ok((await shown.count()) >= 1, 'the actor name is on the page as text');
  assert.equal(await page.locator('main img, main svg, main iframe').count(), 0, 'no element was made from device data');
  assert.deepEqual(w.dialogs, []);
  assert.deepEqual(unexpectedErrors(w), []);
  await page.context().close();
});
