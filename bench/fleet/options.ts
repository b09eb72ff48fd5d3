/** The fleet simulator's flags, checked: one place for `npm run bench -- fleet` and the direct run. */
import type { FleetSimOptions } from './run.ts';

export const FLEET_USAGE = `fleet: --devices N (default 1000), --interval T each device asks once per T (default 10s),
            --deferral T fleet policy's deferral (default 3 × interval), --seconds S measured (default 30),
            --warmup T before measuring (default one interval), --seed N (default 1), --connections N (default 4),
            --verify-every N replies verified in full (default 20), --cache DIR fleet key cache,
            --db PATH hub database (default a temp file); --db postgres: a fresh PostgreSQL database on
            DATABASE_URL's server (or --db postgres://user@host:port/any), dropped after, --broker URL (default a private Mosquitto),
            --workers N hub processes of the one hub id (default 1), --shards N private Mosquittos, every
            worker on all, the fleet's connections spread over them (default 1);
            T takes a unit: 500ms, 30s, 2m`;

export type FleetFlags = Partial<
  Record<
    | 'devices'
    | 'interval'
    | 'deferral'
    | 'seconds'
    | 'warmup'
    | 'seed'
    | 'connections'
    | 'verify-every'
    | 'cache'
    | 'db'
    | 'broker'
    | 'workers'
    | 'shards',
    string
  >
>;

export class FleetUsageError extends Error {
  override readonly name = 'FleetUsageError';
}

/** "500ms", "30s", "2m" → ms. A bare number is refused: `--interval` elsewhere in the bench is in ms. */
export function durationMs(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (m === null) throw new FleetUsageError(`--${flag} ${text}: give a duration with a unit (500ms, 30s, 2m)`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  if (!(ms > 0)) throw new FleetUsageError(`--${flag} must be > 0`);
  return ms;
}

function integer(flag: string, text: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new FleetUsageError(`--${flag} must be an integer from ${min} to ${max}`);
  return n;
}

export function fleetSimOptions(f: FleetFlags): FleetSimOptions {
  const devices = integer('devices', f.devices, 1000, 1, 10_000_000);
  const intervalMs = durationMs('interval', f.interval ?? '10s');
  const deferralMs = f.deferral !== undefined ? durationMs('deferral', f.deferral) : 3 * intervalMs;
  // The hub's policy refuses a deferral under 1 s; a deferral under the interval resets every device.
  if (deferralMs < 1000 || deferralMs > 0xffffffff) throw new FleetUsageError('--deferral must be from 1s to 49 days');
  if (deferralMs <= intervalMs) throw new FleetUsageError('--deferral must be longer than --interval, or every device resets');
  const seconds = f.seconds !== undefined ? Number(f.seconds) : 30;
  if (!(seconds > 0)) throw new FleetUsageError('--seconds must be > 0');
  const workers = integer('workers', f.workers, 1, 1, 64);
  const shards = integer('shards', f.shards, 1, 1, 64);
  if (shards > 1 && f.broker !== undefined) throw new FleetUsageError('--shards starts private brokers: give it without --broker');
  const connections = integer('connections', f.connections, Math.max(4, shards), 1, 1000);
  if (connections < shards) throw new FleetUsageError('--connections must be at least --shards (one connection per shard at least)');
  return {
    devices,
    workers,
    shards,
    intervalMs,
    deferralMs,
    seconds,
    warmupMs: f.warmup !== undefined ? durationMs('warmup', f.warmup) : intervalMs,
    seed: integer('seed', f.seed, 1, 0, 0xffffffff),
    connections,
    verifyEvery: integer('verify-every', f['verify-every'], 20, 1),
    ...(f.cache !== undefined ? { cacheDir: f.cache } : {}),
    ...(f.db === 'postgres'
      ? { pgServer: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' }
      : f.db !== undefined && /^postgres(ql)?:\/\//i.test(f.db)
        ? { pgServer: f.db }
        : f.db !== undefined
          ? { db: f.db }
          : {}),
    ...(f.broker !== undefined ? { brokerUrl: f.broker } : {}),
  };
}
