/**
 * The dashboard process at fleet scale, from outside (part of `npm run bench -- dashboard`): N
 * devices enrolled with activity (big-fleet.ts, `active`), `dominion dashboard` started through the
 * bin as a user starts it, then: start-up time and RSS; /api/devices and /api/summary latencies; with
 * 10 event streams open, each fetching the summary and first page again on changes as a page does, while a writer changes 500 devices a second (ticket-like activity and audit
 * rows, as a hub commits them), how long an operator's quarantine takes to reach all 10 streams, and
 * the process's RSS, peak and at the end.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { median } from '../stats.ts';
import { bigFleetId, enrolBigFleet } from './big-fleet.ts';
import { startDashboard } from './processes.ts';
import { benchFleet, type BenchStore, type FleetWriter } from './store.ts';

const STREAMS = 10;
const CHANGES_PER_SECOND = 500;
const CHURN_SECONDS = 10;
const QUARANTINES = 5;

export async function benchDashboardServer(
  sqlitePath: string,
  devices: number,
  store: BenchStore,
  progress: (msg: string) => void,
): Promise<string[]> {
  let t = performance.now();
  enrolBigFleet(sqlitePath, devices, 'ih-1', { active: true });
  progress(`enrolled ${devices} devices with activity in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const fleet = await benchFleet(store, sqlitePath);
  if (fleet.copyMs !== undefined) progress(`copied into PostgreSQL in ${(fleet.copyMs / 1000).toFixed(1)} s`);
  const lines: string[] = [];
  try {
    const plan = await fleet.plan(devices);
    const scan = await fleet.scanMs();
    progress(`start-up scan in this process: ${(scan.ms / 1000).toFixed(2)} s, ${scan.rows} rows`);
    const load = loadavg()[0]!.toFixed(1);
    t = performance.now();
    const dashboard = await startDashboard([fleet.db]);
    const startS = (performance.now() - t) / 1000;
    lines.push(
      ...(await measure(dashboard, startS, fleet.writer, devices, progress, { store: fleet.store, load, scanMs: scan.ms })),
      ...(plan !== undefined
        ? ['EXPLAIN (ANALYZE, BUFFERS) of one scan page (the 2,000 devices after the middle one):\n', '```', ...plan, '```', '']
        : []),
    );
  } finally {
    await fleet.drop();
  }
  return lines;
}

async function measure(
  dashboard: Awaited<ReturnType<typeof startDashboard>>,
  startS: number,
  openWriter: () => Promise<FleetWriter>,
  devices: number,
  progress: (msg: string) => void,
  about: { store: string; load: string; scanMs: number },
): Promise<string[]> {
  const pid = dashboard.child.pid!;
  const startRss = rssMb(pid);
  progress(`dashboard up in ${startS.toFixed(1)} s, RSS ${startRss.toFixed(0)} MB`);
  const base = dashboard.url.replace(/\/$/, '');
  const lines: string[] = [];
  try {
    // The first page as a page's first request gets it, right after the start.
    const firstPage = (await get(`${base}/api/devices?limit=50`)).ms;
    const byId: number[] = [];
    for (let i = 0; i < 20; i++) byId.push((await get(`${base}/api/devices?limit=50&offset=${i * Math.floor(devices / 20)}`)).ms);
    const once = async (path: string): Promise<string> => `${(await get(`${base}${path}`)).ms.toFixed(1)}`;
    const latencies: Array<[string, string]> = [
      ['GET /api/devices?limit=50, the first request after the start', firstPage.toFixed(1)],
      ['GET /api/devices?limit=50, 20 pages by id (median)', median(byId).toFixed(1)],
      ['GET /api/devices?sort=deadline (first, unsorted before)', await once('/api/devices?sort=deadline&limit=50')],
      ['GET /api/devices?sort=deadline&offset=50 (sorted, cached)', await once('/api/devices?sort=deadline&limit=50&offset=50')],
      ['GET /api/devices?sort=state&dir=desc', await once('/api/devices?sort=state&dir=desc')],
      ['GET /api/devices?q=999 (search)', await once('/api/devices?q=999')],
      ['GET /api/summary', await once('/api/summary')],
    ];

    // Each stream behaves as an open page does (dashboard/page/live.js): on a change, at most once per
    // 300 ms, it fetches the summary and the device table's first page again.
    const streams = Array.from({ length: STREAMS }, () =>
      openStream(`${base}/api/events`, () => void Promise.all([get(`${base}/api/summary`), get(`${base}/api/devices?limit=50`)])),
    );
    await Promise.all(streams.map((s) => s.ready));
    const writer = await openWriter();
    let peak = rssMb(pid);
    const reach: number[] = [];
    try {
      progress(
        `${STREAMS} event streams open; ${CHANGES_PER_SECOND} device changes/s for ${CHURN_SECONDS} s, then ${QUARANTINES} quarantines`,
      );
      const end = Date.now() + CHURN_SECONDS * 1000;
      const perTick = CHANGES_PER_SECOND / 10;
      while (Date.now() < end) {
        const now = Date.now();
        await writer.touch(
          Array.from({ length: perTick }, () => bigFleetId(1 + Math.floor(Math.random() * (devices - 1)))),
          now,
        );
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rssMb(pid));
      }
      for (let q = 0; q < QUARANTINES; q++) {
        const target = bigFleetId(Math.floor(((q + 1) * devices) / (QUARANTINES + 1)));
        const sent = performance.now();
        const arrivals = Promise.all(streams.map((s) => s.named(target, sent)));
        await writer.quarantine(target);
        reach.push(Math.max(...(await arrivals)) - sent);
        peak = Math.max(peak, rssMb(pid));
      }
    } finally {
      await writer.close();
      for (const s of streams) s.close();
    }
    const endRss = rssMb(pid);
    progress(`quarantine → ${STREAMS} streams: median ${median(reach).toFixed(0)} ms; RSS peak ${peak.toFixed(0)} MB`);
    lines.push(
      `### The dashboard process at ${devices.toLocaleString('en-US')} devices, ${about.store}\n`,
      `Started through the bin (\`dominion dashboard\`, bundled) in ${startS.toFixed(1)} s (process start → listening with the index full; load average ${about.load} at its start); RSS ${startRss.toFixed(0)} MB. The start-up scan alone, in the bench's process: ${(about.scanMs / 1000).toFixed(2)} s.\n`,
      '| request | ms |',
      '|---|---:|',
      ...latencies.map(([what, ms]) => `| ${what} | ${ms} |`),
      '',
      `| with ${STREAMS} event streams open, ${CHANGES_PER_SECOND} device changes/s for ${CHURN_SECONDS} s | figure |`,
      '|---|---:|',
      `| quarantine (another connection) → event on all ${STREAMS} streams, median / max of ${QUARANTINES} | ${median(reach).toFixed(0)} / ${Math.max(...reach).toFixed(0)} ms |`,
      `| RSS, peak during the churn and quarantines | ${peak.toFixed(0)} MB |`,
      `| RSS at the end | ${endRss.toFixed(0)} MB |`,
      '',
    );
  } finally {
    await dashboard.stop();
  }
  return lines;
}

interface Stream {
  readonly ready: Promise<void>;
  /** When an event naming `deviceId` (or every device, `*`) arrived after `after` (performance.now()). */
  named(deviceId: string, after: number): Promise<number>;
  close(): void;
}

function openStream(url: string, refetch: () => void): Stream {
  const waits: Array<{ id: string; after: number; resolve: (at: number) => void }> = [];
  let refetchDue: NodeJS.Timeout | undefined;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let buf = '';
  const req = request(url, (res) => {
    res.setEncoding('utf8');
    ready();
    res.on('data', (chunk: string) => {
      const now = performance.now();
      buf += chunk;
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (data === undefined) continue;
        const devices = (JSON.parse(data) as { devices?: string[] | '*' }).devices;
        refetchDue ??= setTimeout(() => {
          refetchDue = undefined;
          refetch();
        }, 300);
        for (const w of [...waits])
          if (now >= w.after && (devices === '*' || devices?.includes(w.id) === true)) {
            waits.splice(waits.indexOf(w), 1);
            w.resolve(now);
          }
      }
    });
  });
  req.end();
  return {
    ready: readyP,
    named: (id, after) => new Promise((resolve) => waits.push({ id, after, resolve })),
    close: () => {
      clearTimeout(refetchDue);
      req.destroy();
    },
  };
}

function get(url: string): Promise<{ ms: number; status: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - t, status: res.statusCode ?? 0 }));
    })
      .on('error', reject)
      .end();
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}
