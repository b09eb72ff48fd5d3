/**
 * The dashboard page in a real Chromium against a fixture server (fixture-server.ts): fast and
 * deterministic. Device-supplied strings carrying markup render as text (no dialog, no element made);
 * an action without the token or with a wrong one shows the server's refusal and changes nothing;
 * a `change` event moves the open device's deadline. The real server: dashboard-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchBrowser, openPage, unexpectedErrors } from '../../support/browser.ts';
import { fixtureDevice, startFixtureServer, type FixtureServer } from './fixture-server.ts';

const skip = chromiumMissing();
const XSS = '<img src=x onerror=alert(1)>';
let browser: Browser;
let server: FixtureServer;

before(async () => {
  if (skip !== undefined) return;
  browser = await launchBrowser();
  server = await startFixtureServer({ token: 'right-token' });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('device strings carrying markup render as text: no dialog, no element made from them', { skip }, async () => {
  const now = Date.now();
  const evil = fixtureDevice(XSS, now);
  evil.stateReason = '<script>alert(2)</script>';
  evil.instances[2]!.reason = `actor ${XSS} not allowed`;
  evil.instances[1]!.images[0]!.version = '<svg onload=alert(3)>';
  evil.resets.push({ atMs: now - 5000, bootCount: 2, reason: '<iframe src=javascript:alert(4)>', firmware: '<b>0.1</b>' });
  evil.audit.unshift({
    id: 2,
    atMs: now,
    hub: 'sh-sensor',
    instance: 'sm:sensor',
    outcome: 'withheld',
    reason: 'actor-not-allowed',
    detail: `unexpected actor ${XSS}`,
    deferralMs: null,
  });
  server.devices.set(XSS, evil);
  server.devices.set('pi-0002', fixtureDevice('pi-0002', now));

  const w = await openPage(browser, server.url);
  const { page } = w;
  // The fleet table: the id is a link whose text is the literal string.
  const link = page.locator('#devices a.device-link', { hasText: XSS });
  await link.waitFor();
  await link.click();
  await page.locator('#device-id', { hasText: XSS }).waitFor();
  for (const literal of [
    `actor ${XSS} not allowed`,
    '<svg onload=alert(3)>',
    '<iframe src=javascript:alert(4)>',
    `unexpected actor ${XSS}`,
  ]) {
    assert.equal(await page.getByText(literal, { exact: false }).first().isVisible(), true, `"${literal}" shown as text`);
  }
  assert.match((await page.locator('.device-head').textContent()) ?? '', /<script>alert\(2\)<\/script>/);
  assert.equal(await page.locator('img, svg, iframe, b').count(), 0, 'no element was made from device data');
  assert.deepEqual(
    await page.locator('script').evaluateAll((els) => els.map((e) => e.getAttribute('src'))),
    ['/assets/first-page.js', '/assets/app.js'],
    "the page's own modules only",
  );
  assert.deepEqual(w.dialogs, []);
  assert.deepEqual(unexpectedErrors(w), [], 'no page error and no CSP violation');
  await page.context().close();
});

test('an action without the token or with a wrong one shows the refusal and changes nothing', { skip }, async () => {
  server.devices.set('pi-0003', fixtureDevice('pi-0003', Date.now()));
  const w = await openPage(browser, `${server.url}#/device/pi-0003`);
  const { page } = w;
  await page.locator('#device-state', { hasText: 'OK' }).waitFor();

  await page.locator('#token').fill('');
  await page.locator('button[data-action="quarantine"]').click();
  await page.locator('#action-result.error', { hasText: '401 token-required' }).waitFor();
  assert.match((await page.locator('#action-result').textContent()) ?? '', /Authorization: Bearer/, "the server's own words");

  await page.locator('#token').fill('wrong-token');
  await page.locator('button[data-action="quarantine"]').click();
  await page.locator('#action-result.error', { hasText: '403 bad-token' }).waitFor();
  // Revoke asks in the page first; cancelling sends nothing.
  await page.locator('button[data-action="revoke"]').click();
  await page.locator('#confirm-revoke').waitFor();
  await page.locator('button[data-action="cancel-revoke"]').click();
  await page.locator('#confirm-revoke').waitFor({ state: 'hidden' });

  assert.equal(server.actions.length, 0, 'nothing reached the point of changing');
  assert.equal(server.devices.get('pi-0003')!.state, 'OK');
  assert.equal(await page.locator('#device-state').textContent(), 'OK');

  await page.locator('#token').fill('right-token');
  await page.locator('button[data-action="quarantine"]').click();
  await page.locator('#device-state', { hasText: 'QUARANTINED' }).waitFor();
  // require-update names the instance and the release; a missing release is caught in the page.
  await page.locator('#update-instance').selectOption('mm');
  await page.locator('button[data-action="require-update"]').click();
  await page.locator('#action-result.error', { hasText: 'give a release number' }).waitFor();
  await page.locator('#update-release').fill('2');
  await page.locator('button[data-action="require-update"]').click();
  await page.locator('#action-result.ok', { hasText: 'release 2' }).waitFor();
  assert.deepEqual(
    server.actions.map((a) => [a.action, a.body]),
    [
      ['quarantine', {}],
      ['require-update', { instance: 'mm', release: 2 }],
    ],
  );
  assert.deepEqual(w.dialogs, []);
  assert.deepEqual(unexpectedErrors(w), []);
  await page.context().close();
});

test(
  'a change event refetches the open device: its deadline moves; resets keep TIMEOUT apart from FAIL and WITHHELD; the stream reconnects',
  { skip },
  async () => {
    const d = fixtureDevice('pi-0004', Date.now());
    for (const [i, reason] of ['ticket-timeout', 'check-failed', 'ticket-withheld', 'operator'].entries())
      d.resets.push({ atMs: Date.now() - (i + 1) * 60_000, bootCount: 5 - i, reason, firmware: '0.1.0' });
    server.devices.set('pi-0004', d);
    const w = await openPage(browser, `${server.url}#/device/pi-0004`);
    const { page } = w;
    await page.locator('#live[data-state="open"]').waitFor();
    const cell = page.locator('tr[data-instance="device"] td.deadline');
    const before = Number(await cell.getAttribute('data-deadline-ms'));
    assert.equal(before, d.instances[0]!.deadlineMs);
    d.instances[0]!.deadlineMs = before + 5000;
    server.change(['pi-0004']);
    await page.locator(`tr[data-instance="device"] td.deadline[data-deadline-ms="${before + 5000}"]`).waitFor();
    const kinds = await Promise.all((await page.locator('#resets tbody tr').all()).map((r) => r.getAttribute('data-kind')));
    assert.deepEqual(kinds, ['TIMEOUT', 'FAIL', 'WITHHELD', 'OPERATOR']);
    // The stream ends: the indicator says so, EventSource reconnects by itself with Last-Event-ID.
    const connects = server.resumedFrom.length;
    server.dropStreams();
    await page.locator('#live[data-state="reconnecting"]').waitFor();
    await page.locator('#live[data-state="open"]').waitFor();
    assert.ok(server.resumedFrom.length > connects, 'the page connected again');
    assert.ok(server.resumedFrom.at(-1) !== undefined, 'and resumed from the last event id');
    assert.deepEqual(unexpectedErrors(w), []);
    await page.context().close();
  },
);
