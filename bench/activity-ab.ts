/**
 * Activity written with each batch against written behind, in one process, interleaved: two SQLite
 * stores on copies of one enrolled database, one `HubCore` on each, the same kind of pre-signed
 * requests through both in alternating slices (order swapped every slice). Each slice's pair is
 * measured back to back, so a neighbour's load on a shared machine moves both alike; the table gives
 * the median CPU per request of each and the median of the per-slice ratios. Each slice asks for
 * devices in random order (a slice of a shuffled fleet), as a fleet's requests arrive.
 *
 *   node --import tsx bench/activity-ab.ts [--devices 100000] [--flush 0,5000] [--slices 12] [--slice-requests 20000]
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hex, randomNonce } from '../actors/crypto/index.ts';
import { HubCore, IH_ROLE, newHubKey } from '../actors/hub/index.ts';
import { SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { runCore } from './hub-core.ts';
import { enrollFleet, preSign, rawVerifySignRate } from './hub.ts';
import { cpuMicrosPer, interleave } from './interleave.ts';
import { median, progress, table } from './stats.ts';

export async function benchActivityAb(opts: {
  devices: number;
  flush: [number, number];
  slices: number;
  sliceRequests: number;
}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-ab-'));
  const stores: SqliteHubStore[] = [];
  try {
    const hubId = `bench-ab-${hex(randomNonce(3))}`;
    progress(`enrolling ${opts.devices} devices`);
    const fleet = enrollFleet(join(dir, 'a.db'), hubId, opts.devices);
    copyFileSync(join(dir, 'a.db'), join(dir, 'b.db'));
    const signer = newHubKey(hubId, IH_ROLE).signer;
    const cores = opts.flush.map((activityFlushMs, i) => {
      const store = SqliteHubStore.open({ path: join(dir, `${'ab'[i]}.db`), verifierCacheSize: opts.devices, activityFlushMs });
      stores.push(store);
      return new HubCore({ role: IH_ROLE, signer, store });
    });
    progress('warm-up: every device once through both');
    for (const core of cores) runCore(core, preSign(fleet, opts.devices), 128);
    const raws: number[] = [];
    const ab = await interleave(
      opts.slices,
      // Devices in random order, as a fleet's requests arrive (preSign shuffles each round).
      (side) => {
        const requests = preSign(fleet, opts.sliceRequests); // signed before the clock starts
        return cpuMicrosPer(() => runCore(cores[side]!, requests, 128));
      },
      (s, [a, b]) => {
        raws.push(1e6 / rawVerifySignRate(0.3, 1).perCpu);
        progress(`slice ${s + 1}/${opts.slices}: ${a.toFixed(1)} µs vs ${b.toFixed(1)} µs per request`);
      },
    );
    const raw = median(raws);
    return table(
      ['activity', 'CPU µs per request (median)', 'raw verify+sign µs', '÷ raw (rate)', 'per-slice ratio to the first (median)'],
      opts.flush.map((f, i) => [
        f === 0 ? 'with each batch' : `written behind, flushed every ${f} ms`,
        ab.medians[i as 0 | 1].toFixed(1),
        raw.toFixed(1),
        `${((100 * raw) / ab.medians[i as 0 | 1]).toFixed(0)} %`,
        i === 0 ? '1.00×' : `${ab.ratio.toFixed(2)}× faster`,
      ]),
    );
  } finally {
    for (const s of stores) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { devices: { type: 'string' }, flush: { type: 'string' }, slices: { type: 'string' }, 'slice-requests': { type: 'string' } },
  });
  const [a, b] = (values.flush ?? '0,5000').split(',').map(Number);
  console.log(
    `## Activity written behind, interleaved\n\n${await benchActivityAb({
      devices: Number(values.devices ?? 100_000),
      flush: [a ?? 0, b ?? 5000],
      slices: Number(values.slices ?? 12),
      sliceRequests: Number(values['slice-requests'] ?? 20_000),
    })}`,
  );
}
