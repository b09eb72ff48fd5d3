/**
 * `npm run bench -- <suite> [--runs N] [--seconds S] [--quick]`
 *
 * Suites: runtime (mailbox/scheduler throughput, channel round trip), crypto (Ed25519 both backends),
 * hub (one hub process over MQTT by fleet size, then its decision path in one process without MQTT),
 * loop (ticket round trip over Aedes and Mosquitto, CPU of the loop at 1 s), paper (the source system's
 * evaluation: HYP/VM/DOM1/DOM5/DOM60 × CPU and throughput; minutes, so not part of `all`), recovery
 * (image fetch over MQTT, restore of a tampered service image, CPU of gated boot and slots; ~3 min, not
 * part of `all`), resilience (a device per strategy behind a hostile MQTT proxy: resets per hour and
 * slack to the bound; minutes, not part of `all`), fleet (the fleet simulator, bench/fleet/: N devices
 * open-loop against a real hub; not part of `all`), dashboard (the dashboard's first page at 100,000 devices in
 * headless Chromium, --screenshots for docs/; not part of `all`), all. Tables go to stdout (paste into bench/RESULTS.md with the command); progress goes to stderr.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { benchCrypto, formatCryptoTable } from './crypto.ts';
import { benchDashboard } from './dashboard/index.ts';
import { benchFleet, FLEET_FLAGS, FLEET_USAGE, fleetSimOptions, type FleetFlags } from './fleet/index.ts';
import { benchHub } from './hub.ts';
import { benchHubCore } from './hub-core.ts';
import { benchLoop, LOOP_PARTS, type LoopPart } from './loop.ts';
import { benchRecovery, RECOVERY_PARTS, type RecoveryPart } from './recovery.ts';
import { benchResilience, STRATEGY_NAMES } from './resilience/index.ts';
import { paperOptions, PAPER_USAGE } from './paper/cli.ts';
import { benchPaper } from './paper/index.ts';
import { benchRuntime } from './runtime.ts';

const SUITES = ['runtime', 'crypto', 'loop', 'hub', 'fleet', 'dashboard', 'paper', 'recovery', 'resilience', 'all'] as const;
type Suite = (typeof SUITES)[number];

const USAGE = `usage: npm run bench -- <${SUITES.join('|')}> [--runs N] [--seconds S] [--quick]
  --runs N      repetitions per measurement; the median is reported (default 5)
  --seconds S   length of one repetition in seconds (default 0.5)
  --quick       3 runs of 0.2 s: a smoke run, not for RESULTS.md
  recovery: --runs N fetches and restores per row (default 10), --seconds S per CPU window (default 10),
            --reps N CPU windows (default 5), --only fetch,restore,cpu (default all);
            --quick: 3 runs, 3 s windows, 1 rep
  resilience: --minutes M (default 2), --interval MS (default 1000), --seed N (default 1),
            --only ${STRATEGY_NAMES.join(',')} (default all; the baseline always runs),
            --broker URL (default a private Mosquitto, else embedded Aedes),
            --hub-replay guard|none (default guard: hubs refuse a nonce answered before, as on SQLite)
  loop: --only cpu,rtt (default both), --seconds S per CPU window (default 20), --reps N CPU windows (default 1)
  ${FLEET_USAGE}
  dashboard: --devices N enrolled (default 100000), --runs N page loads (default 10), --screenshots (docs/dashboard-*.png),
            --db sqlite|postgres (default sqlite; postgres: a fresh database on DATABASE_URL's server, or
            --db postgres://user@host:port/any, the fleet moved in by db migrate's copy, dropped after)
${PAPER_USAGE}`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      seconds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      'whole-intervals': { type: 'boolean', default: false },
      setups: { type: 'string' },
      workloads: { type: 'string' },
      chunk: { type: 'string' },
      only: { type: 'string' },
      minutes: { type: 'string' },
      interval: { type: 'string' },
      seed: { type: 'string' },
      broker: { type: 'string' },
      'hub-replay': { type: 'string' },
      devices: { type: 'string' },
      deferral: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'verify-every': { type: 'string' },
      workers: { type: 'string' },
      shards: { type: 'string' },
      cache: { type: 'string' },
      db: { type: 'string' },
      screenshots: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const suite = (positionals[0] ?? 'all') as Suite;
  if (!SUITES.includes(suite)) throw new Error(`unknown suite "${suite}"\n${USAGE}`);
  const only = values.only?.split(',').map((p) => p.trim());
  const known: readonly string[] = suite === 'resilience' ? STRATEGY_NAMES : suite === 'loop' ? LOOP_PARTS : RECOVERY_PARTS;
  const unknown = only?.filter((p) => !known.includes(p)) ?? [];
  if (unknown.length > 0) throw new Error(`--only: unknown part(s) ${unknown.join(', ')} (${known.join(', ')})\n${USAGE}`);
  if (suite === 'resilience') {
    // Its own flags; not part of `all` (it runs for minutes).
    const minutes = Number(values.minutes ?? 2);
    const intervalMs = Number(values.interval ?? 1000);
    const seed = Number(values.seed ?? 1);
    // At least 200 ms, as for `dominion up`: the deferral must reach the hubs' 1 s minimum.
    const hubReplay = values['hub-replay'] ?? 'guard';
    if (
      !(minutes > 0) ||
      !Number.isInteger(intervalMs) ||
      intervalMs < 200 ||
      !Number.isInteger(seed) ||
      (hubReplay !== 'guard' && hubReplay !== 'none')
    )
      throw new Error(`--minutes must be > 0, --interval an integer >= 200 ms, --seed an integer, --hub-replay guard or none\n${USAGE}`);
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `# dominion bench: resilience\n\n${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} × ${cpu}\n`,
    );
    console.log(await benchResilience({ minutes, intervalMs, seed, only, hubReplay, brokerUrl: values.broker }));
    return;
  }
  if (suite === 'fleet') {
    // Its own flags (--interval etc. take a unit); not part of `all`: a 100k fleet runs for minutes.
    const flags = Object.fromEntries(FLEET_FLAGS.flatMap((f) => (values[f] !== undefined ? [[f, values[f]]] : []))) as FleetFlags;
    console.log(`## Fleet simulator\n`);
    console.log(await benchFleet(fleetSimOptions(flags), `npm run bench -- ${process.argv.slice(2).join(' ')}`));
    return;
  }
  if (suite === 'dashboard') {
    // Its own flags; not part of `all` (a browser, 100,000 devices enrolled, and a scenario for the screenshots).
    const devices = Number(values.devices ?? 100_000);
    const runs = Number(values.runs ?? 10);
    if (!Number.isInteger(devices) || devices < 1 || !Number.isInteger(runs) || runs < 1)
      throw new Error(`--devices and --runs must be integers >= 1\n${USAGE}`);
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `# dominion bench: dashboard\n\n${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} × ${cpu}\n`,
    );
    const db = values.db ?? 'sqlite';
    const store =
      db === 'sqlite'
        ? ({ kind: 'sqlite' } as const)
        : db === 'postgres'
          ? ({ kind: 'postgres', server: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' } as const)
          : /^postgres(ql)?:\/\//i.test(db)
            ? ({ kind: 'postgres', server: db } as const)
            : undefined;
    if (store === undefined) throw new Error(`--db must be sqlite, postgres or a postgres:// server URL\n${USAGE}`);
    console.log(await benchDashboard({ devices, runs, screenshots: values.screenshots, store }));
    return;
  }
  if (suite === 'paper') {
    // Its own flags (--reps, --seconds = window length); not part of `all`, which would take minutes.
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `# dominion bench: paper\n\n${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} × ${cpu}\n`,
    );
    console.log(await benchPaper(paperOptions(values, `npm run bench -- ${process.argv.slice(2).join(' ')}`)));
    return;
  }
  const runs = values.quick ? 3 : Number(values.runs ?? 5);
  const seconds = values.quick ? 0.2 : Number(values.seconds ?? 0.5);
  if (!Number.isInteger(runs) || runs < 1 || !(seconds > 0)) throw new Error(`--runs must be an integer >= 1 and --seconds > 0\n${USAGE}`);

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `# dominion bench: ${suite}\n\n${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} × ${cpu}\n`,
  );
  if (suite === 'runtime' || suite === 'all') {
    console.log('## Runtime: message throughput and channel round trip\n');
    console.log(await benchRuntime({ runs, seconds }));
    console.log();
  }
  if (suite === 'hub') {
    console.log('## Hub capacity and latency by fleet size\n');
    console.log(await benchHub(values.quick ? { runs: 1, seconds: 1, devices: [1, 100] } : { runs, seconds: Math.max(seconds, 3) }));
    console.log();
    // The same decisions without MQTT: how much of the hub's cost is the decision and the store.
    console.log('## The hub core in one process (no MQTT)\n');
    console.log(
      benchHubCore(
        values.quick
          ? { devices: [1, 100], seconds: 0.5, batch: 128, runs: 1, activityFlushMs: 5000 }
          : { devices: [1, 100, 10_000], seconds: Math.max(seconds, 3), batch: 128, runs, activityFlushMs: 5000 },
      ),
    );
    console.log();
  }
  if (suite === 'recovery') {
    const parts = only === undefined ? {} : { only: only as RecoveryPart[] };
    console.log('## Recovery loop: image fetch, restore, and the steady-state cost of slots\n');
    console.log(
      await benchRecovery(
        values.quick
          ? { ...parts, fetchRuns: 3, restoreRuns: 3, warmup: 1, cpuSeconds: 3, cpuReps: 2 }
          : {
              ...parts,
              fetchRuns: Number(values.runs ?? 10),
              restoreRuns: Number(values.runs ?? 10),
              cpuSeconds: Number(values.seconds ?? 10),
              cpuReps: Number(values.reps ?? 5),
            },
      ),
    );
    console.log();
  }
  if (suite === 'loop' || suite === 'all') {
    console.log('## Ticket loop over MQTT: round trip and CPU\n');
    const loopParts = suite === 'loop' && only !== undefined ? { only: only as LoopPart[] } : {};
    console.log(
      await benchLoop(
        values.quick
          ? { ...loopParts, samples: 60, cpuSeconds: 5 }
          : suite === 'loop'
            ? { ...loopParts, cpuSeconds: Number(values.seconds ?? 20), cpuReps: Number(values.reps ?? 1) }
            : {},
      ),
    );
    console.log();
  }
  if (suite === 'crypto' || suite === 'all') {
    console.log('## Crypto: Ed25519 per backend\n');
    console.log(formatCryptoTable(await benchCrypto({ runs, seconds })));
    console.log();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
