/**
 * The hub's decision path in one process, without MQTT: pre-signed requests for N enrolled devices
 * through `HubCore.handle` in batches, each batch committed to the SQLite store (as hub-server.ts
 * does, minus the sockets), beside the raw Ed25519 verify+sign rate of the same run. It tells how
 * much of a hub's cost per request is the decision and the store, and how much is MQTT (bench/hub.ts
 * measures the whole process).
 *
 *   node --import tsx bench/hub-core.ts [--devices 1,100000] [--seconds S] [--batch 128] [--runs N] [--activity-flush MS]
 *
 * --activity-flush: how long activity is held before it is written (default 5000, as `dominion hub`;
 * 0: with each batch, as before write-behind).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hex, randomNonce } from '../actors/crypto/index.ts';
import { HubCore, IH_ROLE, newHubKey } from '../actors/hub/index.ts';
import { PendingBatch } from '../actors/hub/effects.ts';
import { SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { enrollFleet, preSign, rawVerifySignRate } from './hub.ts';
import { median, progress, table } from './stats.ts';

export interface CoreRun {
  readonly devices: number;
  readonly perCpuSecond: number;
  readonly raw: number;
}

export function benchHubCore(opts: { devices: number[]; seconds: number; batch: number; runs: number; activityFlushMs: number }): string {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-core-'));
  try {
    const hubId = `bench-core-${hex(randomNonce(3))}`;
    const db = join(dir, 'ih.db');
    const max = Math.max(...opts.devices);
    progress(`enrolling ${max} devices`);
    const fleet = enrollFleet(db, hubId, max);
    const store = SqliteHubStore.open({ path: db, verifierCacheSize: Math.max(50_000, max), activityFlushMs: opts.activityFlushMs });
    const key = newHubKey(hubId, IH_ROLE);
    const core = new HubCore({ role: IH_ROLE, signer: key.signer, store });
    const rows: CoreRun[] = [];
    try {
      for (const n of opts.devices) {
        const devices = fleet.slice(0, n);
        // Each device once first: the hub builds its verifier at a key's first request.
        progress(`${n} device(s): warm-up`);
        runCore(core, preSign(devices, Math.max(n, 2000)), opts.batch);
        const samples: CoreRun[] = [];
        for (let r = 0; r < opts.runs; r++) {
          const raw = rawVerifySignRate(0.5, 1).perCpu;
          const requests = preSign(devices, Math.ceil(opts.seconds * 6000));
          const profiling = startProfile();
          const cpu0 = process.cpuUsage();
          const answered = runCore(core, requests, opts.batch);
          const cpu = process.cpuUsage(cpu0);
          profiling?.(`hub-core-${n}-${r + 1}`);
          samples.push({ devices: n, perCpuSecond: answered / ((cpu.user + cpu.system) / 1e6), raw });
          progress(`${n} device(s), run ${r + 1}: ${Math.round(samples.at(-1)!.perCpuSecond)} per CPU-s (raw ${Math.round(raw)})`);
        }
        rows.push({ devices: n, perCpuSecond: median(samples.map((s) => s.perCpuSecond)), raw: median(samples.map((s) => s.raw)) });
      }
    } finally {
      store.close();
    }
    return table(
      ['devices', 'decided + committed per CPU-s', 'raw verify+sign per CPU-s', '÷ raw'],
      rows.map((r) => [r.devices, Math.round(r.perCpuSecond), Math.round(r.raw), `${((100 * r.perCpuSecond) / r.raw).toFixed(0)} %`]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Decides every request, `batch` at a time, committing each batch; returns the tickets granted. */
export function runCore(core: HubCore, requests: ReadonlyArray<{ bytes: Uint8Array; deviceId: string }>, batch: number): number {
  let tickets = 0;
  const pending = new PendingBatch();
  const store = core.store as SqliteHubStore;
  const flushMs = store.journal.activity.flushMs;
  let flushedAt = Date.now();
  for (let i = 0; i < requests.length; i += batch) {
    const now = Date.now();
    // The hub's flush timer (sqlite-hub.ts), on the same schedule.
    if (flushMs > 0 && now - flushedAt >= flushMs) {
      store.flushActivity();
      flushedAt = now;
    }
    for (let j = i; j < Math.min(i + batch, requests.length); j++) {
      const r = requests[j]!;
      const { decision } = core.handle(r.bytes, now, pending, r.deviceId);
      if (decision.exchange === 'ticket' && decision.outcome === 'ticket') tickets++;
    }
    core.store.commit(pending.take().map((d) => d.effects));
  }
  // What the run left held is its own cost too: written (and measured) before the run ends.
  if (flushMs > 0) store.flushActivity();
  return tickets;
}

/**
 * DOMINION_BENCH_CORE_PROFILE=<dir>: a V8 CPU profile of each measured run alone (not the enrolment
 * or warm-up) is written there. Returns the function that stops it and writes it under a name.
 */
function startProfile(): ((name: string) => void) | undefined {
  const dir = process.env.DOMINION_BENCH_CORE_PROFILE;
  if (dir === undefined) return undefined;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  return (name) =>
    session.post('Profiler.stop', (err, result) => {
      if (err === null) writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(result.profile));
      session.disconnect();
    });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string' },
      seconds: { type: 'string' },
      batch: { type: 'string' },
      runs: { type: 'string' },
      'activity-flush': { type: 'string' },
    },
  });
  const text = benchHubCore({
    devices: (values.devices ?? '1,100000').split(',').map(Number),
    seconds: Number(values.seconds ?? 3),
    batch: Number(values.batch ?? 128),
    runs: Number(values.runs ?? 3),
    activityFlushMs: Number(values['activity-flush'] ?? 5000),
  });
  console.log(`## Hub core in one process\n\n${text}`);
}
