/**
 * End to end in a real Chromium: `dominion up --scenario none` (embedded broker, SQLite IH and SH,
 * a device taking tickets every second) and `dominion dashboard` on its databases, both child
 * processes. The open device view's deadline moves with each new ticket (server-sent events);
 * actions without the token or with a wrong one are refused with the server's words and change
 * nothing; with the token, quarantine takes the device to QUARANTINED and its reset shows up.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startDashboard, startScenario, type DashboardProcess, type Scenario } from '../../../bench/dashboard/processes.ts';
import { chromiumMissing, launchBrowser, openPage, unexpectedErrors, type WatchedPage } from '../../support/browser.ts';

const skip = chromiumMissing();
const TOKEN = 'e2e-operator-token-0123456789';
let browser: Browser;
let scenario: Scenario;
let dashboard: DashboardProcess;
let w: WatchedPage;
let page: Page;

before(async () => {
  if (skip !== undefined) return;
  [browser, scenario] = await Promise.all([launchBrowser(), startScenario({ intervalMs: 1000 })]);
  dashboard = await startDashboard(scenario.dbs, { token: TOKEN });
  // The device holds tickets before the page opens: the deadlines are live from the start.
  await scenario.waitFor(/boot granted by the IH/, 'the gated boot', 120_000);
  w = await openPage(browser, `${dashboard.url}#/device/pi-0001`);
  page = w.page;
});

after(async () => {
  await browser?.close();
  await Promise.all([dashboard?.stop(), scenario?.stop()]);
  if (scenario !== undefined) rmSync(scenario.dir, { recursive: true, force: true });
});

/** The device instance's deadline as the page holds it (ms since epoch). */
async function deadlineOf(instance: string): Promise<number> {
  const cell = page.locator(`tr[data-instance="${instance}"] td.deadline[data-deadline-ms]`);
  await cell.waitFor();
  return Number(await cell.getAttribute('data-deadline-ms'));
}

test('the device view: every instance, its deadline moving with each new ticket, pushed live', { skip }, async () => {
  await page.locator('#device-id', { hasText: 'pi-0001' }).waitFor();
  for (const i of ['device', 'mm', 'sm:sensor']) await page.locator(`tr[data-instance="${i}"]`).waitFor();
  await page.locator('#live[data-state="open"]').waitFor();
  const first = await deadlineOf('device');
  // A new ticket pushes the deadline back; the page learns it from the event stream, not a reload.
  await page.locator(`tr[data-instance="device"] td.deadline[data-deadline-ms]:not([data-deadline-ms="${first}"])`).waitFor();
  const next = await deadlineOf('device');
  assert.ok(next > first, `deadline moved forward: ${first} → ${next}`);
  // Counting down between tickets: the cell's text is "in N s".
  assert.match((await page.locator('tr[data-instance="device"] td.deadline').textContent()) ?? '', /^in \d+\.\d s$/);
  assert.deepEqual(unexpectedErrors(w), []);
});

test('an action without the token, or with a wrong one, is refused with the reason and changes nothing', { skip }, async () => {
  await page.locator('#token').fill('');
  await page.locator('button[data-action="quarantine"]').click();
  await page.locator('#action-result.error', { hasText: '401 token-required' }).waitFor();
  await page.locator('#token').fill('not-the-token');
  await page.locator('button[data-action="quarantine"]').click();
  await page.locator('#action-result.error', { hasText: '403 bad-token' }).waitFor();
  // Still active: the server says so, not just the page.
  const device = (await (await fetch(`${dashboard.url}api/devices/pi-0001`)).json()) as {
    deviceState: string;
    audit: { reason: string | null }[];
  };
  assert.equal(device.deviceState, 'active');
  assert.ok(!device.audit.some((a) => a.reason === 'quarantine'), 'no quarantine audited');
  assert.notEqual(await page.locator('#device-state').textContent(), 'QUARANTINED');
});

test('with the token, quarantine takes the device to QUARANTINED and its reset appears', { skip }, async () => {
  const resetsBefore = await page.locator('#resets tbody tr').count();
  await page.locator('#token').fill(TOKEN);
  await page.locator('#action-reason').fill('e2e: suspicious');
  await page.locator('button[data-action="quarantine"]').click();
  await page.locator('#action-result.ok').waitFor();
  await page.locator('#device-state', { hasText: 'QUARANTINED' }).waitFor();
  // The device is reset and reports why when it boots again: an operator reset, told apart from
  // timeouts, failed checks and withheld tickets.
  await page.locator('#resets tbody tr').nth(resetsBefore).waitFor({ timeout: 90_000 });
  await page.locator('#resets tbody tr[data-kind="OPERATOR"]', { hasText: 'operator' }).first().waitFor();
  // The audit trail names the operator action as the CLI records it.
  await page.locator('#audit tbody tr', { hasText: 'quarantine' }).first().waitFor();
  // The fleet view agrees.
  await page.goto(`${dashboard.url}#/`);
  await page.locator('tr[data-device="pi-0001"] .state', { hasText: 'QUARANTINED' }).waitFor();
  await page.locator('.count[data-state="QUARANTINED"] .count-n', { hasText: '1' }).waitFor();
  assert.deepEqual(w.dialogs, []);
  assert.deepEqual(unexpectedErrors(w), []);
});
