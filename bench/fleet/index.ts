/**
 * The door to `bench/fleet/`: the fleet simulator (issue 15). N simulated devices with real keys ask
 * a real `dominion hub` for tickets over a real broker, open-loop at a chosen interval, their requests
 * signed ahead by a worker thread; the report gives rates, latency, refusals, the resets the fleet
 * would have suffered, who used the CPU, and the largest fleet per hub core at a 60 s deferral.
 *
 *   npm run bench -- fleet [--devices N] [--interval 10s] [--seconds S] …   (FLEET_USAGE)
 *   node --import tsx bench/fleet/index.ts [same flags]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { FLEET_USAGE, fleetSimOptions, type FleetFlags } from './options.ts';
import { fleetReport } from './report.ts';
import { runFleetSim, type FleetSimOptions } from './run.ts';

export { FLEET_USAGE, FleetUsageError, fleetSimOptions, type FleetFlags } from './options.ts';
export { fleetPerHubCore } from './report.ts';
export type { FleetRun, FleetSimOptions } from './run.ts';

/** Runs the simulator and returns its markdown report (the command line first). */
export async function benchFleet(o: FleetSimOptions, command: string): Promise<string> {
  const loadBefore = loadavg()[0]!;
  const run = await runFleetSim(o);
  return `\`${command}\`\n\n${fleetReport(run, loadBefore)}`;
}

export const FLEET_FLAGS = [
  'devices',
  'interval',
  'deferral',
  'seconds',
  'warmup',
  'seed',
  'connections',
  'verify-every',
  'cache',
  'db',
  'broker',
  'workers',
  'shards',
] as const satisfies ReadonlyArray<keyof FleetFlags>;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: Object.fromEntries(FLEET_FLAGS.map((f) => [f, { type: 'string' as const }])) });
  Promise.resolve()
    .then(() =>
      benchFleet(fleetSimOptions(values as FleetFlags), `node --import tsx bench/fleet/index.ts ${process.argv.slice(2).join(' ')}`),
    )
    .then(
      (text) => console.log(`## Fleet simulator\n\n${text}`),
      (err: unknown) => {
        console.error(err instanceof Error ? err.message : err);
        console.error(FLEET_USAGE);
        process.exit(1);
      },
    );
}
