/**
 * This checkout's decision path against another checkout's (a git worktree of an earlier commit), in
 * one process, interleaved: each side's own `HubCore` and SQLite store (modules imported from its own
 * tree) on a copy of one enrolled database, the same kind of pre-signed requests through both in
 * alternating slices, order swapped every slice. A neighbour's load on a shared machine moves both
 * alike, so the per-slice ratio resolves changes of a few per cent that separate runs cannot
 * (bench/RESULTS.md, "noise"). Devices are asked in random order, as a fleet's requests arrive.
 *
 *   git worktree add /tmp/base <rev> && ln -s "$PWD/node_modules" /tmp/base/node_modules
 *   node --import tsx bench/build-ab.ts --base /tmp/base [--devices 100000] [--slices 12] [--slice-requests 15000]
 *
 * Both trees must open the same database schema (the base's enrolment writes it).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMicrosPer, interleave } from './interleave.ts';
import { median, progress, table } from './stats.ts';

/** What the bench needs of a tree: its hub core, SQLite store and the bench helpers. */
interface Tree {
  readonly label: string;
  readonly hub: typeof import('../actors/hub/index.ts');
  readonly sqlite: typeof import('../actors/hub/sqlite/index.ts');
  readonly core: typeof import('./hub-core.ts');
  readonly bench: typeof import('./hub.ts');
}

async function loadTree(root: string, label: string): Promise<Tree> {
  const at = (path: string): string => pathToFileURL(join(root, path)).href;
  return {
    label,
    hub: (await import(at('actors/hub/index.ts'))) as Tree['hub'],
    sqlite: (await import(at('actors/hub/sqlite/index.ts'))) as Tree['sqlite'],
    core: (await import(at('bench/hub-core.ts'))) as Tree['core'],
    bench: (await import(at('bench/hub.ts'))) as Tree['bench'],
  };
}

export async function benchBuildAb(opts: {
  base: string;
  devices: number;
  slices: number;
  sliceRequests: number;
  flushMs: number;
}): Promise<string> {
  const trees = [
    await loadTree(resolve(opts.base), `base (${opts.base})`),
    await loadTree(resolve(import.meta.dirname, '..'), 'this checkout'),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-build-ab-'));
  const stores: Array<{ close(): void }> = [];
  try {
    const [base] = trees as [Tree, Tree];
    const hubId = `bench-build-ab-${Date.now().toString(36)}`;
    progress(`enrolling ${opts.devices} devices (with the base's code)`);
    const fleet = base.bench.enrollFleet(join(dir, '0.db'), hubId, opts.devices);
    copyFileSync(join(dir, '0.db'), join(dir, '1.db'));
    const cores = trees.map((t, i) => {
      const store = t.sqlite.SqliteHubStore.open({
        path: join(dir, `${i}.db`),
        verifierCacheSize: opts.devices,
        activityFlushMs: opts.flushMs,
      });
      stores.push(store);
      return new t.hub.HubCore({ role: t.hub.IH_ROLE, signer: t.hub.newHubKey(hubId, t.hub.IH_ROLE).signer, store });
    });
    progress('warm-up: every device once through both');
    trees.forEach((t, i) => t.core.runCore(cores[i] as never, base.bench.preSign(fleet, opts.devices), 128));
    const raws: number[] = [];
    const ab = await interleave(
      opts.slices,
      (side) => {
        const requests = base.bench.preSign(fleet, opts.sliceRequests); // signed before the clock starts
        return cpuMicrosPer(() => trees[side]!.core.runCore(cores[side] as never, requests, 128));
      },
      (s, [a, b]) => {
        raws.push(1e6 / base.bench.rawVerifySignRate(0.3, 1).perCpu);
        progress(`slice ${s + 1}/${opts.slices}: base ${a.toFixed(1)} µs, this ${b.toFixed(1)} µs per request`);
      },
    );
    const raw = median(raws);
    return table(
      ['tree', 'CPU µs per request (median)', 'raw verify+sign µs', '÷ raw (rate)', 'per-slice ratio to the base (median)'],
      trees.map((t, i) => [
        t.label,
        ab.medians[i as 0 | 1].toFixed(1),
        raw.toFixed(1),
        `${((100 * raw) / ab.medians[i as 0 | 1]).toFixed(0)} %`,
        i === 0 ? '1.00×' : `${ab.ratio.toFixed(3)}× faster`,
      ]),
    );
  } finally {
    for (const s of stores) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      devices: { type: 'string' },
      slices: { type: 'string' },
      'slice-requests': { type: 'string' },
      'activity-flush': { type: 'string' },
    },
  });
  if (values.base === undefined) {
    console.error(
      'usage: node --import tsx bench/build-ab.ts --base <checkout of the other tree> [--devices N] [--slices N] [--slice-requests N]',
    );
    process.exit(2);
  }
  console.log(
    `## This checkout against ${values.base}, interleaved\n\n${await benchBuildAb({
      base: values.base,
      devices: Number(values.devices ?? 100_000),
      slices: Number(values.slices ?? 12),
      sliceRequests: Number(values['slice-requests'] ?? 15_000),
      flushMs: Number(values['activity-flush'] ?? 5000),
    })}`,
  );
}
