/**
 * What one instance's activity write costs a SQLite hub (actors/hub/sqlite/activity-buffer.ts), per
 * row of CPU time, on a table of N enrolled devices: written with each batch of B random devices (as
 * before write-behind, B ≈ a hub's commit), against held and flushed K rows at a time in key order (as
 * `--activity-flush` does: K = what a hub answers in one interval). Same statement, same table.
 *
 *   node --import tsx bench/activity-writes.ts [--devices 100000] [--batch 59] [--held 5000,25000] [--rounds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ActivityWrite } from '../actors/hub/activity-writes.ts';
import { IH_ROLE } from '../actors/hub/index.ts';
import { ActivityBuffer } from '../actors/hub/sqlite/activity-buffer.ts';
import { SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { median, progress, table } from './stats.ts';

const SLOTS = JSON.stringify([
  { label: 'sw', version: 5, slot: 'a' },
  { label: 'hypervisor', version: 5, slot: 'a' },
]);

export function benchActivityWrites(opts: { devices: number; batch: number; held: number[]; rounds: number }): string {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-activity-'));
  const store = SqliteHubStore.open({ path: join(dir, 'ih.db'), create: true, identity: { hubId: 'bench-activity', role: IH_ROLE } });
  try {
    let now = Date.now();
    const write = (i: number): ActivityWrite => ({
      deviceId: `bench-${i}`,
      instance: 'device',
      requestAtMs: now,
      outcome: 'ticket',
      reason: 'policy',
      state: 'ok',
      ticketAtMs: now,
      deferralMs: 60_000,
      slots: SLOTS,
      recovery: false,
    });
    const random = (n: number): ActivityWrite[] => Array.from({ length: n }, () => write(Math.floor(Math.random() * opts.devices)));
    progress(`filling instance_activity with ${opts.devices} rows`);
    const direct = new ActivityBuffer(store.db, { flushMs: 0 });
    store.db.transaction(() => {
      for (let i = 0; i < opts.devices; i++) direct.write(write(i));
    })();
    const perBatch = store.db.transaction((ws: readonly ActivityWrite[]) => {
      for (const w of ws) direct.write(w);
    });
    const held = new ActivityBuffer(store.db, { flushMs: 1, maxHeld: Number.MAX_SAFE_INTEGER });
    const cpuPerRow = (rows: number, f: () => void): number => {
      const c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / rows;
    };
    const rows: Array<[string, number, string]> = [];
    const total = Math.max(...opts.held, opts.batch * 300);
    const samples = { batch: [] as number[], held: opts.held.map(() => [] as number[]) };
    for (let r = 0; r < opts.rounds; r++) {
      progress(`round ${r + 1}/${opts.rounds}`);
      samples.batch.push(
        cpuPerRow(total, () => {
          for (let done = 0; done < total; done += opts.batch) {
            now += 10;
            // A batch's writes go in key order (mergeActivity), as the journal writes them.
            perBatch(random(opts.batch).sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)));
          }
        }),
      );
      opts.held.forEach((k, i) => {
        now += 10;
        held.hold(random(k));
        samples.held[i]!.push(cpuPerRow(held.size, () => held.flush()));
      });
    }
    rows.push([`with each batch of ${opts.batch}`, median(samples.batch), '1.00×']);
    opts.held.forEach((k, i) => {
      const us = median(samples.held[i]!);
      rows.push([`held, ${k.toLocaleString('en-US')} instances per flush`, us, `${(median(samples.batch) / us).toFixed(2)}×`]);
    });
    return table(
      [`activity writes on ${opts.devices.toLocaleString('en-US')} rows`, 'CPU µs per row (median)', 'cheaper by'],
      rows.map(([what, us, ratio]) => [what, us.toFixed(1), ratio]),
    );
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { devices: { type: 'string' }, batch: { type: 'string' }, held: { type: 'string' }, rounds: { type: 'string' } },
  });
  console.log(
    `## Activity writes\n\n${benchActivityWrites({
      devices: Number(values.devices ?? 100_000),
      batch: Number(values.batch ?? 59),
      held: (values.held ?? '5000,25000').split(',').map(Number),
      rounds: Number(values.rounds ?? 3),
    })}`,
  );
}
