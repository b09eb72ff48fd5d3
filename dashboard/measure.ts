/**
 * Measures the dashboard at fleet scale (docs/DASHBOARD.md, "Measured"): enrols N devices (device
 * and mm instances, with activity rows of mixed states) straight into a new SQLite hub database — as
 * bench/fleet/enrol.ts does, since enrolling one by one through enrollKeys takes minutes — starts
 * `dominion dashboard` on it as a child process, and reports: start-up time, /api/devices first-page
 * latency (by id, and the first uncached sorted/searched page), /api/summary latency, the time a
 * quarantine takes to reach an event stream, and the process's RSS with 10 event streams open while
 * a writer changes 500 devices a second.
 *
 *   npx tsx dashboard/measure.ts [--devices 100000]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { IH_ROLE } from '../actors/hub/index.ts';
import { changeDeviceState, enrollKeys, setFleetPolicy, SqliteHubStore } from '../actors/hub/sqlite/index.ts';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '100000' } } });
const N = Number(values.devices);
const dir = mkdtempSync(join(tmpdir(), 'dominion-dash-measure-'));
const path = join(dir, 'ih.db');

function enrol(): void {
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId: 'ih-1', role: IH_ROLE } });
  const db = store.db;
  setFleetPolicy(db, { default: { deferralMs: 30_000 } });
  enrollKeys(db, 'sim-0', [{ instance: 'device', publicKey: randomBytes(32) }]);
  const now = Date.now();
  const dev = db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES (?, 'active', ?, ?)");
  const key = db.prepare('INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES (?, ?, ?, ?, ?)');
  const act = db.prepare(
    `INSERT INTO instance_activity (device_id, instance, last_request_at_ms, last_outcome, last_reason, state, last_ticket_at_ms, last_deferral_ms, deadline_ms, expired)
     VALUES (?, ?, ?, ?, ?, ?, ?, 30000, ?, 0)`,
  );
  db.transaction(() => {
    for (let i = 1; i < N; i++) {
      const id = `sim-${i}`;
      dev.run(id, now, now);
      for (const instance of ['device', 'mm']) {
        key.run(id, instance, randomBytes(32), randomBytes(16), now);
        if (i % 10 === 0) continue; // NEVER
        const at = now - Math.floor(Math.random() * 20_000);
        const ok = i % 7 !== 0;
        act.run(
          id,
          instance,
          at,
          ok ? 'ticket' : 'withheld',
          ok ? 'granted' : 'policy-failed',
          ok ? 'ok' : 'withheld',
          ok ? at : null,
          ok ? at + 30_000 : null,
        );
      }
    }
  })();
  store.close();
}

function get(base: string, p: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    request(`${base}${p}`, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: performance.now() - t, bytes, status: res.statusCode ?? 0 }));
    })
      .on('error', reject)
      .end();
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

const t0 = performance.now();
enrol();
console.log(`enrolled ${N} devices (2 instances each) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${path}`);
const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'dashboard', '--db', path, '--listen', '127.0.0.1:0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const started = performance.now();
const base = await new Promise<string>((resolve) => {
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (t: string) => {
    const m = /http:\/\/[0-9.]+:\d+/.exec(t);
    if (m) resolve(m[0]);
  });
});
console.log(
  `dashboard up in ${((performance.now() - started) / 1000).toFixed(1)} s (process start, quick_check, index), RSS ${rssMb(child.pid!).toFixed(0)} MB`,
);
const first = await get(base, '/api/devices?limit=50');
console.log(`GET /api/devices?limit=50 (first page): ${first.ms.toFixed(1)} ms, ${first.bytes} bytes`);
const times: number[] = [];
for (let i = 0; i < 20; i++) times.push((await get(base, `/api/devices?limit=50&offset=${i * 5000}`)).ms);
times.sort((a, b) => a - b);
console.log(`  by id, 20 pages: median ${times[10]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms`);
for (const p of [
  '/api/devices?sort=deadline&limit=50',
  '/api/devices?sort=deadline&limit=50&offset=50',
  '/api/devices?sort=state&dir=desc',
  '/api/devices?q=999',
  '/api/devices?state=WITHHELD',
  '/api/summary',
]) {
  const r = await get(base, p);
  console.log(`GET ${p}: ${r.ms.toFixed(1)} ms (${r.status}, ${r.bytes} bytes)`);
}
// 10 event streams, a writer changing devices, a quarantine's latency to the streams.
const streams: Array<{ got: (id: string) => Promise<number>; close: () => void }> = [];
for (let i = 0; i < 10; i++) {
  let buf = '';
  const waits: Array<{ id: string; resolve: (t: number) => void }> = [];
  const req = request(`${base}/api/events`, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      for (const w of [...waits])
        if (buf.includes(`"${w.id}"`)) {
          waits.splice(waits.indexOf(w), 1);
          w.resolve(performance.now());
        }
      if (buf.length > 1e6) buf = buf.slice(-1e5);
    });
  });
  req.end();
  streams.push({ got: (id) => new Promise((resolve) => waits.push({ id, resolve })), close: () => req.destroy() });
}
const writer = SqliteHubStore.open({ path, identity: { hubId: 'ih-1', role: IH_ROLE } });
const touch = writer.db.prepare(
  "UPDATE instance_activity SET last_request_at_ms = ?, last_ticket_at_ms = ?, deadline_ms = ? + 30000 WHERE device_id = ? AND instance = 'device'",
);
const audit = writer.db.prepare(
  "INSERT INTO audit (at_ms, hub_id, outcome, reason, device_id, instance, deferral_ms) VALUES (?, 'ih-1', 'ticket', 'granted', ?, 'device', 30000)",
);
let peak = 0;
const end = Date.now() + 10_000;
while (Date.now() < end) {
  const now = Date.now();
  writer.db.transaction(() => {
    for (let k = 0; k < 50; k++) {
      const id = `sim-${1 + Math.floor(Math.random() * (N - 1))}`;
      touch.run(now, now, now, id);
      audit.run(now, id);
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  peak = Math.max(peak, rssMb(child.pid!));
}
const target = `sim-${Math.floor(N / 2)}`;
const sent = performance.now();
const arrivals = Promise.all(streams.map((s) => s.got(target)));
changeDeviceState(writer.db, target, 'quarantine', 'measure');
const at = await arrivals;
console.log(`quarantine → all 10 streams: max ${(Math.max(...at) - sent).toFixed(0)} ms`);
const page = await get(base, '/api/devices?limit=50');
console.log(`GET /api/devices?limit=50 under churn: ${page.ms.toFixed(1)} ms`);
console.log(`RSS with 10 streams open, 500 device changes/s for 10 s: peak ${peak.toFixed(0)} MB, now ${rssMb(child.pid!).toFixed(0)} MB`);
for (const s of streams) s.close();
writer.close();
child.kill('SIGTERM');
