/**
 * `npm run bench -- dashboard [--devices N] [--runs N] [--screenshots] [--db sqlite|postgres]`: the
 * fleet view's first page at N enrolled devices (default 100,000; in SQLite, or moved into a fresh
 * PostgreSQL database: store.ts) in headless Chromium against `dominion dashboard`, and,
 * with --screenshots, docs/dashboard-fleet.png and docs/dashboard-device.png from a running
 * `dominion up` scenario. Each run opens the page in a fresh browser context and reads the page's
 * own performance marks: navigation → first rows painted (`dominion:first-rows`, set in the frame
 * after the rows are in the DOM) and route → first rows (`dominion:route-to-rows`). Then the
 * dashboard process itself (server.ts): start-up, API latencies, a change's way to 10 event
 * streams, and its RSS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumMissing, launchBrowser } from '../../test/support/browser.ts';
import { median, percentile } from '../stats.ts';
import { enrolBigFleet } from './big-fleet.ts';
import { startDashboard, startScenario } from './processes.ts';
import { benchDashboardServer } from './server.ts';
import { benchFleet, type BenchStore } from './store.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DashboardBenchOptions {
  readonly devices: number;
  readonly runs: number;
  readonly screenshots: boolean;
  /** SQLite (the default) or a fresh PostgreSQL database on this server (store.ts). */
  readonly store?: BenchStore;
  readonly progress?: (msg: string) => void;
}

interface Sample {
  readonly navToRowsMs: number;
  readonly routeToRowsMs: number;
  readonly apiMs: number;
}

export async function benchDashboard(o: DashboardBenchOptions): Promise<string> {
  const missing = chromiumMissing();
  if (missing !== undefined && o.screenshots) throw new Error(missing);
  const progress = o.progress ?? ((m: string) => console.error(m));
  const store = o.store ?? { kind: 'sqlite' };
  const dir = mkdtempSync(join(tmpdir(), 'dominion-dashboard-bench-'));
  const out: string[] = [];
  try {
    // Without a browser the process part still runs (its first page is an HTTP request).
    if (missing === undefined) {
      const browser = await launchBrowser();
      try {
        out.push(...(await benchPage(browser, join(dir, 'ih.db'), store, o, progress)));
        if (o.screenshots) {
          await screenshots(browser, progress);
          out.push('screenshots: docs/dashboard-fleet.png, docs/dashboard-device.png');
        }
      } finally {
        await browser.close();
      }
    } else {
      progress(`${missing}: the page in a browser is not measured`);
      out.push(`(the page in a browser not measured: ${missing})\n`);
    }
    out.push(...(await benchDashboardServer(join(dir, 'ih-active.db'), o.devices, store, progress)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out.join('\n');
}

/** The first page in headless Chromium, `o.runs` loads, on a fleet that never asked. */
async function benchPage(
  browser: Awaited<ReturnType<typeof launchBrowser>>,
  db: string,
  store: BenchStore,
  o: DashboardBenchOptions,
  progress: (msg: string) => void,
): Promise<string[]> {
  let t = performance.now();
  enrolBigFleet(db, o.devices);
  progress(`enrolled ${o.devices} devices in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const fleet = await benchFleet(store, db);
  t = performance.now();
  const samples: Sample[] = [];
  try {
    const dashboard = await startDashboard([fleet.db]);
    progress(`dashboard on ${fleet.store} up at ${dashboard.url} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    try {
      for (let i = 0; i < o.runs; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        await page.goto(dashboard.url);
        // Waits for the page's own mark in the page (a locator would inject Playwright's script,
        // 13–25 ms, which can land between the rows' render and their paint).
        await page.evaluate(`new Promise((resolve) => {
          if (performance.getEntriesByName('dominion:first-rows').length > 0) return resolve();
          new PerformanceObserver((list, observer) => {
            if (list.getEntriesByName('dominion:first-rows').length > 0) { observer.disconnect(); resolve(); }
          }).observe({ type: 'mark', buffered: true });
        })`);
        const rows = await page.locator('#devices tbody tr[data-device]').count();
        if (rows !== Math.min(50, o.devices)) throw new Error(`first page shows ${rows} rows`);
        const s = (await page.evaluate(`(() => {
          const rows = performance.getEntriesByName('dominion:first-rows')[0];
          const route = performance.getEntriesByName('dominion:route-to-rows')[0];
          const api = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/devices?'));
          return { navToRowsMs: rows.startTime, routeToRowsMs: route.duration, apiMs: api ? api.responseEnd - api.startTime : NaN };
        })()`)) as Sample;
        samples.push(s);
        progress(
          `run ${i + 1}: navigation → rows ${s.navToRowsMs.toFixed(0)} ms (route → rows ${s.routeToRowsMs.toFixed(0)} ms, /api/devices ${s.apiMs.toFixed(0)} ms)`,
        );
        await context.close();
      }
    } finally {
      await dashboard.stop();
    }
  } finally {
    await fleet.drop();
  }
  const col = (k: keyof Sample) => samples.map((s) => s[k]);
  const fmt = (xs: number[]) => `${median(xs).toFixed(0)} / ${percentile(xs, 95).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`;
  return [
    `## Dashboard: the fleet view's first page at ${o.devices.toLocaleString('en-US')} devices, ${fleet.store}\n`,
    `${o.runs} page loads, each in a fresh browser context (headless Chromium, 1280×800); ms, median / p95 / max; first load: ${samples[0]!.navToRowsMs.toFixed(0)} ms\n`,
    '| measure | ms (median / p95 / max) |',
    '|---|---|',
    `| navigation start → first 50 rows painted | ${fmt(col('navToRowsMs'))} |`,
    `| route start (page script) → first rows painted | ${fmt(col('routeToRowsMs'))} |`,
    `| GET /api/devices?limit=50 (browser's resource timing) | ${fmt(col('apiMs'))} |`,
    '',
  ];
}

/**
 * The views while `dominion up` plays its default scenario: the device view once the quarantine
 * holds the device (its resets, withholds and the operator's action in the audit trail), the fleet
 * view after it.
 */
async function screenshots(browser: Awaited<ReturnType<typeof launchBrowser>>, progress: (msg: string) => void): Promise<void> {
  const scenario = await startScenario({ scenario: 'default', intervalMs: 500, durationS: 300 });
  try {
    // Beside the scenario's device, a second IH's fleet of 100,000 enrolled devices that never asked:
    // the fleet view at scale, with the live device sorted first.
    const fleetDb = join(scenario.dir, 'ih-fleet.db');
    enrolBigFleet(fleetDb, 100_000, 'ih-fleet');
    const dashboard = await startDashboard([...scenario.dbs, fleetDb], { token: 'screenshot-operator-token' });
    try {
      progress('waiting for the scenario to quarantine the device…');
      await scenario.waitFor(/QUARANTINED/, 'the quarantine step', 240_000);
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${dashboard.url}#/device/pi-0001`);
      await page.locator('#device-state').waitFor();
      await page.locator('#live[data-state="open"]').waitFor();
      await page.locator('#audit tbody tr').first().waitFor();
      // The reset the quarantine caused, once the device reported it.
      await page.locator('#resets tbody tr').nth(1).waitFor({ timeout: 120_000 });
      await page.screenshot({ path: join(ROOT, 'docs/dashboard-device.png') });
      await page.goto(`${dashboard.url}#/`);
      await page.locator('#devices tbody tr[data-device]').first().waitFor();
      // Last request, newest first: the scenario's device heads the table.
      await page.locator('button.sort[data-sort="lastRequest"]').click();
      await page.locator('th[aria-sort="ascending"] button.sort[data-sort="lastRequest"]').waitFor();
      await page.locator('button.sort[data-sort="lastRequest"]').click();
      await page.locator('#devices tbody tr:first-child[data-device="pi-0001"]').waitFor();
      await page.locator('.count-n').first().waitFor();
      await page.screenshot({ path: join(ROOT, 'docs/dashboard-fleet.png') });
      await context.close();
      progress('wrote docs/dashboard-device.png and docs/dashboard-fleet.png');
    } finally {
      await dashboard.stop();
    }
  } finally {
    await scenario.stop();
    rmSync(scenario.dir, { recursive: true, force: true });
  }
}
