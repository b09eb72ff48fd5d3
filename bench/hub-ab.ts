/**
 * This checkout's `dominion hub` process against another checkout's (a git worktree), end to end and
 * interleaved: each tree's hub on its own private Mosquitto and its own copy of one enrolled SQLite
 * database (same hub id, same device keys), one load generator driving them in alternating closed-loop
 * runs, the order swapped every round. Separate bench runs minutes apart differ by up to 2× on this
 * machine (bench/RESULTS.md, "noise"); alternating runs of a few seconds move both sides alike, and
 * the median of the per-round ratios tells a change of the whole process apart from drift, as
 * bench/build-ab.ts does for the decision path alone.
 *
 *   git worktree add /tmp/base <rev> && ln -s "$PWD/node_modules" /tmp/base/node_modules
 *   node --import tsx bench/hub-ab.ts --base /tmp/base [--devices 100000] [--rounds 8] [--seconds 3]
 *
 * Both trees must open the same database schema (this tree enrols it).
 */
import { runCleanups } from './cleanups.ts';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hex, randomNonce } from '../actors/crypto/index.ts';
import { IH_ROLE, newHubKey, writeHubKeyFile } from '../actors/hub/index.ts';
import { awaitConnected, connectMqtt, type MqttClient } from '../actors/mqtt/index.ts';
import { enrollFleet, measure, startHub, startMosquitto, type RunResult } from './hub.ts';
import { interleave } from './interleave.ts';
import { median, progress, table } from './stats.ts';

const IN_FLIGHT = 128;

export async function benchHubAb(opts: { base: string; devices: number; rounds: number; seconds: number }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-hub-ab-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const hubId = `bench-ab-${hex(randomNonce(3))}`;
    const keyPath = join(dir, 'ih.key.json');
    writeHubKeyFile(keyPath, newHubKey(hubId, IH_ROLE));
    progress(`enrolling ${opts.devices} devices`);
    const devices = enrollFleet(join(dir, '0.db'), hubId, opts.devices);
    copyFileSync(join(dir, '0.db'), join(dir, '1.db'));
    const entries = [join(resolve(opts.base), 'cli/main.ts'), 'cli/main.ts'];
    const labels = [`base (${opts.base})`, 'this checkout'];
    const sides: Array<{ load: MqttClient; pid: number }> = [];
    for (const [i, entry] of entries.entries()) {
      const brokerDir = join(dir, `broker-${i}`);
      mkdirSync(brokerDir);
      const broker = await startMosquitto(brokerDir, cleanups);
      const db = join(dir, `${i}.db`);
      const args = ['hub', '--role', 'ih', '--id', hubId, '--broker', broker.url, '--key', keyPath, '--db', db];
      const hub = await startHub([...args, '--key-cache', String(Math.max(50_000, opts.devices))], cleanups, entry);
      const load = connectMqtt(broker.url, { protocolVersion: 5, clientId: `bench-ab-load-${i}-${hex(randomNonce(3))}` });
      cleanups.push(() => load.endAsync(true));
      await awaitConnected(load);
      await load.subscribeAsync('dominion/v1/device/+/reply/+', { qos: 1 });
      sides.push({ load, pid: hub.process.pid! });
    }
    // Every device once through each hub: a hub builds a key's verifier at its first request.
    for (const [i, side] of sides.entries()) {
      progress(`${labels[i]}: warm-up`);
      await measure(side.load, hubId, devices, Math.max(1, opts.devices / 1500), IN_FLIGHT, [side.pid]);
    }
    // Alternating runs, the order swapped every round (interleave.ts); a side's cost is CPU µs per answer.
    const results: [RunResult[], RunResult[]] = [[], []];
    const ab = await interleave(
      opts.rounds,
      async (side) => {
        const run = await measure(sides[side]!.load, hubId, devices, opts.seconds, IN_FLIGHT, [sides[side]!.pid]);
        results[side].push(run);
        return 1e6 / run.perCpuSecond;
      },
      (r, [base, mine]) =>
        progress(
          `round ${r + 1}/${opts.rounds}: base ${Math.round(1e6 / base)}, this ${Math.round(1e6 / mine)} per hub CPU-s (${(base / mine).toFixed(3)}×)`,
        ),
    );
    return table(
      ['tree', 'per hub CPU-s (median)', '÷ raw per CPU-s (median of runs)', 'p99 ms (median)', 'per-round ratio to the base (median)'],
      results.map((rs, i) => [
        labels[i]!,
        Math.round(median(rs.map((x) => x.perCpuSecond))),
        `${(100 * median(rs.map((x) => x.ofRaw))).toFixed(0)} %`,
        median(rs.map((x) => x.p99)).toFixed(1),
        i === 0 ? '1.00×' : `${ab.ratio.toFixed(3)}×`,
      ]),
    );
  } finally {
    await runCleanups(cleanups);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { base: { type: 'string' }, devices: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' } },
  });
  if (values.base === undefined) {
    console.error('--base <a worktree of the commit to compare with> is required');
    process.exit(2);
  }
  benchHubAb({
    base: values.base,
    devices: Number(values.devices ?? 100_000),
    rounds: Number(values.rounds ?? 8),
    seconds: Number(values.seconds ?? 3),
  }).then(
    (text) => console.log(`## This checkout's hub process against ${values.base}, interleaved\n\n${text}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
