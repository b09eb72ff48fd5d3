/**
 * `dominion hub`'s store choice (docs/ARCHITECTURE.md §7, §7.5): `--db <file>` runs a `SqliteHub`,
 * `--db postgres://…` a `PgHub` worker (any number of them per hub id). What differs for the
 * command: the options each takes, how the database is named in logs (a URL never with its
 * password), the counters, and readiness — a SQLite hub that is not ready ends the process (exit
 * 1: the file needs an operator), a PostgreSQL worker waits for the server and is ready again by
 * itself (it logs both; its retained status says it).
 */
import type { Signer } from '../actors/crypto/index.ts';
import { PgHub, SqliteHub, type HubCore, type HubRole, type HubServer, type PgHubStats, type SqliteHubStats } from '../actors/hub/index.ts';
import { pgPolicyGaps } from '../actors/hub/postgres/index.ts';
import { policyGaps, type PolicyGap } from '../actors/hub/sqlite/index.ts';
import type { HubStatus } from '../actors/hub/status.ts';
import type { Logger } from '../actors/log/index.ts';
import type { Instance } from '../proto/index.ts';
import { dbLabel, isPostgresUrl } from './pg-db.ts';
import { UsageError } from './options.ts';

/** What both kinds of hub take from the command line. */
export interface HubStartOptions {
  readonly log: Logger;
  readonly role: HubRole;
  readonly hubId: string;
  readonly brokers: readonly string[];
  readonly brokerTls?: { readonly ca: string };
  readonly signer: Signer;
  readonly init: boolean;
  readonly shareGroup: string | 'auto' | null;
  readonly maxBatch: number;
  readonly replayWindowMs: number;
  readonly sweepIntervalMs: number;
  readonly credential?: { readonly username: string; readonly password: string };
}

/** SQLite's own options (`--sync`, `--integrity-check`, `--key-cache`, `--activity-flush`), and `--audit-keep` (both stores). */
export interface SqliteHubOptions {
  readonly synchronous: 'normal' | 'full';
  readonly integrityCheckIntervalMs: number;
  readonly auditKeepDays?: number;
  readonly keyCacheSize: number;
  readonly activityFlushMs: number;
}

export const SQLITE_ONLY_OPTIONS = ['sync', 'integrity-check', 'key-cache', 'activity-flush'] as const;

/** A started hub, whichever its store. */
export interface RunningHub {
  readonly server: HubServer;
  readonly core: HubCore;
  /** The database as logs name it: a path, or `postgres://host:port/db` without credentials. */
  readonly where: string;
  /** Log fields of the store (`sync` for SQLite). */
  readonly fields: Readonly<Record<string, string>>;
  status(): HubStatus;
  statsLine(): string;
  policyGaps(instances: readonly Instance[]): Promise<PolicyGap[]>;
  /** SQLite: called once the hub is not ready and cannot recover by itself (the command then exits 1). PostgreSQL: never. */
  onFatal(listener: (problem: string) => void): () => void;
  stop(): Promise<void>;
}

/** Refuses SQLite-only options with a PostgreSQL `--db`, and a URL without `--key`. */
export function checkStoreOptions(db: string, given: Readonly<Record<string, unknown>>): void {
  if (!isPostgresUrl(db)) return;
  for (const o of SQLITE_ONLY_OPTIONS)
    if (given[o] !== undefined) throw new UsageError(`hub: --${o} is for a SQLite --db only (PostgreSQL keeps its own durability)`);
  if (given.key === undefined)
    throw new UsageError('hub: --key <file> is required with a postgres:// --db (there is no database folder to find the key in)');
}

export async function startHub(db: string, common: HubStartOptions, sqliteOptions: SqliteHubOptions): Promise<RunningHub> {
  if (isPostgresUrl(db)) {
    const hub = await PgHub.start({
      ...common,
      dbUrl: db,
      ...(sqliteOptions.auditKeepDays !== undefined ? { auditKeepDays: sqliteOptions.auditKeepDays } : {}),
    });
    return {
      server: hub.server,
      core: hub.core,
      where: dbLabel(db),
      fields: {},
      status: () => hub.status(),
      statsLine: () => pgStatsLine(hub.stats()),
      policyGaps: (instances) => pgPolicyGaps(hub.store.pool, instances),
      onFatal: () => () => {},
      stop: () => hub.stop(),
    };
  }
  const hub = await SqliteHub.start({ ...common, dbPath: db, ...sqliteOptions });
  return {
    server: hub.server,
    core: hub.core,
    where: db,
    fields: { sync: sqliteOptions.synchronous },
    status: () => hub.status(),
    statsLine: () => sqliteStatsLine(hub.stats()),
    policyGaps: (instances) => Promise.resolve(policyGaps(hub.store.db, instances)),
    onFatal: (listener) => hub.onNotReady(listener),
    stop: () => hub.stop(),
  };
}

function sqliteStatsLine(s: SqliteHubStats): string {
  const o = s.decisions.outcomes;
  const b = s.decisions.boot;
  const i = s.decisions.images;
  return (
    `received ${s.server.received}, replied ${s.server.replied}, oversized dropped ${s.server.oversizedDrops}; tickets ${o.ticket}, withheld ${o.withheld}, update-required ${o['update-required']}, ` +
    `refused ${o.refused} ${JSON.stringify(s.decisions.reasons.refused)}; ` +
    `boots granted ${b.outcomes['boot-granted']}, withheld ${b.outcomes['boot-withheld']} ${JSON.stringify(b.reasons['boot-withheld'])}, refused ${b.outcomes.refused}; ` +
    `chunks ${i.outcomes.chunk} (${i.bytes} bytes), chunks refused ${i.outcomes['chunk-refused']} ${JSON.stringify(i.reasons['chunk-refused'])}, ` +
    `image requests unanswered ${i.outcomes.refused}; commits ${s.journal.commits} (largest ${s.journal.largestBatch}), ` +
    `commit failures ${s.server.commitFailures}; activity written behind ${s.activity.rows} row(s) in ${s.activity.flushes} flush(es), ` +
    `${s.activity.failures} failed, ${s.activity.held} held; integrity checks ${s.integrity.checks}, dropped while not ready ${s.server.notReadyDrops}, behind a slow commit ${s.server.backlogDrops}; timeouts ${s.sweeps.timeouts}, fails ${s.sweeps.fails}; TLS failures ${s.server.tlsFailures}`
  );
}

function pgStatsLine(s: PgHubStats): string {
  const o = s.decisions.outcomes;
  const b = s.decisions.boot;
  return (
    `received ${s.server.received}, replied ${s.server.replied}, oversized dropped ${s.server.oversizedDrops}; tickets ${o.ticket}, withheld ${o.withheld}, update-required ${o['update-required']}, ` +
    `refused ${o.refused} ${JSON.stringify(s.decisions.reasons.refused)}; ` +
    `boots granted ${b.outcomes['boot-granted']}, withheld ${b.outcomes['boot-withheld']}, refused ${b.outcomes.refused}; ` +
    `commits ${s.journal.commits} (largest ${s.journal.largestBatch}; ${s.journal.oneStatement} in one statement, ${s.journal.oneStatementReplays} of them retried for a replay), commit failures ${s.server.commitFailures}, ` +
    `replays dropped ${s.journal.replayed}; not ready ${s.outages} time(s), recovered ${s.recoveries}, dropped while not ready ${s.server.notReadyDrops}, behind a slow commit ${s.server.backlogDrops}; ` +
    `timeouts ${s.sweeps.timeouts}, fails ${s.sweeps.fails}; audit rows pruned ${s.sweeps.pruned}; TLS failures ${s.server.tlsFailures}`
  );
}
