/**
 * The SQLite store against the PostgreSQL store, per CPU-second of the hub's own process, in one
 * process, interleaved: the same enrolled fleet in a SQLite file and in a fresh PostgreSQL database
 * (copied by `db migrate`'s path), one `HubCore` on each, pre-signed requests from devices in random
 * order through both in alternating slices (order swapped every slice), each batch committed before
 * the next is decided, as hub-server.ts does. PostgreSQL's own server CPU is not counted, as in the
 * target ("per hub CPU-second"); MQTT is left out, being the same for both (bench/hub.ts measures it).
 *
 *   DATABASE_URL=postgres://… node --import tsx bench/store-ab.ts [--devices 100000] [--batch 1,64] [--slices 8] [--slice-requests 6000]
 *
 * --batch: requests per commit, one table row each: 1 is a hub at light load (every request its own
 * commit), 64 a busy one. Every device is asked once before measuring, so both stores' memories (keys,
 * device history) are warm, as a hub's are after one interval.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hex, randomNonce } from '../actors/crypto/index.ts';
import { HubCore, IH_ROLE, newHubKey, PendingBatch, type HubStore } from '../actors/hub/index.ts';
import { PgHubStore } from '../actors/hub/postgres/index.ts';
import { SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { pgFleetDatabase } from './fleet/enrol-pg.ts';
import { enrollFleet, preSign } from './hub.ts';
import { cpuMicrosPer, interleave } from './interleave.ts';
import { progress, table } from './stats.ts';

type Requests = ReadonlyArray<{ bytes: Uint8Array; deviceId: string }>;

/** Decides `batch` requests at a time and commits each batch before the next; returns the tickets. */
async function drive(core: HubCore, requests: Requests, batch: number): Promise<number> {
  const pending = new PendingBatch();
  const store: HubStore = core.store;
  let tickets = 0;
  for (let i = 0; i < requests.length; i += batch) {
    const now = Date.now();
    for (let j = i; j < Math.min(i + batch, requests.length); j++) {
      const { decision } = core.handle(requests[j]!.bytes, now, pending, requests[j]!.deviceId);
      if (decision.outcome === 'ticket') tickets++;
    }
    const effects = pending.take().map((d) => d.effects);
    if (store.commitAsync !== undefined) await store.commitAsync(effects);
    else store.commit(effects);
  }
  return tickets;
}

export async function benchStoreAb(opts: {
  pgUrl: string;
  devices: number;
  batches: number[];
  slices: number;
  sliceRequests: number;
}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-store-ab-'));
  const closers: Array<() => Promise<void> | void> = [];
  try {
    const hubId = `bench-store-ab-${hex(randomNonce(3))}`;
    const path = join(dir, 'ih.db');
    progress(`enrolling ${opts.devices} devices`);
    const fleet = enrollFleet(path, hubId, opts.devices);
    progress('copying them into a fresh PostgreSQL database');
    const pgDb = await pgFleetDatabase(opts.pgUrl, path);
    closers.push(pgDb.drop);
    const signer = newHubKey(hubId, IH_ROLE).signer;
    const sqlite = SqliteHubStore.open({ path, verifierCacheSize: opts.devices, activityFlushMs: 5000 });
    closers.push(() => sqlite.close());
    const pg = await PgHubStore.open({ url: pgDb.url });
    closers.push(() => pg.close());
    const cores = [new HubCore({ role: IH_ROLE, signer, store: sqlite }), new HubCore({ role: IH_ROLE, signer, store: pg })];
    progress('warm-up: every device once through both');
    for (const core of cores) await drive(core, preSign(fleet, opts.devices), 64);
    const rows: Array<Array<string | number>> = [];
    for (const batch of opts.batches) {
      const ab = await interleave(
        opts.slices,
        async (side) => {
          const requests = preSign(fleet, opts.sliceRequests);
          sqlite.flushActivity(); // the hub's flush timer, between slices: its cost lands in the SQLite slices alike
          return cpuMicrosPer(async () => {
            const answered = await drive(cores[side]!, requests, batch);
            if (side === 0) sqlite.flushActivity();
            return answered;
          });
        },
        (s, [a, b]) =>
          progress(`batch ${batch}, slice ${s + 1}/${opts.slices}: SQLite ${a.toFixed(1)} µs, PostgreSQL ${b.toFixed(1)} µs per request`),
      );
      rows.push([
        batch,
        ab.medians[0].toFixed(1),
        ab.medians[1].toFixed(1),
        ab.ratio.toFixed(2),
        `${pg.journal.stats().oneStatement} of ${pg.journal.stats().commits}`,
      ]);
    }
    return table(
      [
        'requests per commit',
        'SQLite: CPU µs per request',
        'PostgreSQL: CPU µs per request (worker only)',
        'PostgreSQL ÷ SQLite per CPU-second (median of slice ratios)',
        'PostgreSQL commits in one statement (cumulative)',
      ],
      rows,
    );
  } finally {
    for (const close of closers.reverse()) await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { devices: { type: 'string' }, batch: { type: 'string' }, slices: { type: 'string' }, 'slice-requests': { type: 'string' } },
  });
  const pgUrl = process.env.DATABASE_URL;
  if (pgUrl === undefined) {
    console.error('store-ab: set DATABASE_URL to a PostgreSQL server whose user may create databases');
    process.exit(2);
  }
  console.log(
    `## SQLite against PostgreSQL store, interleaved\n\n${await benchStoreAb({
      pgUrl,
      devices: Number(values.devices ?? 100_000),
      batches: (values.batch ?? '1,64').split(',').map(Number),
      slices: Number(values.slices ?? 8),
      sliceRequests: Number(values['slice-requests'] ?? 6000),
    })}`,
  );
}
