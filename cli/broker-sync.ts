/**
 * `dominion broker-sync`: writes the broker's password_file and acl_file from the hubs' databases
 * and tells the broker to reload them (docs/ARCHITECTURE.md §7.1). `syncOptions`/`runSync` let
 * `enroll`, `revoke` and `keys` run the same sync right after their change (`--broker-dir`).
 */
import { dbLabel, isPostgresUrl } from './pg-db.ts';
import { mergeBrokerAccounts, sqlite, writeBrokerFiles, type BrokerSyncResult, type CollectedAccounts } from '../actors/hub/index.ts';
import { openPool, pgBrokerUsers } from '../actors/hub/postgres/index.ts';
import { consoleIo, failure, integer, outputFolderProblem, parseCommand, positionals, UsageError, type CliIo } from './options.ts';

const HELP = `usage: dominion broker-sync --db <path|url> [--db …] --out <dir> [--pid <n> | --pidfile <file>]

Writes <dir>/passwd (Mosquitto password_file: one $7$ PBKDF2-SHA512 hash per device and hub) and
<dir>/acl (Mosquitto acl_file: each device reads and writes only its own topics; each hub only its
role's) from the hubs' databases, atomically, then sends the broker SIGHUP so it rereads both.
Give the IH's database (its devices and itself) and every SH's (itself). A revoked device is left
out; its next CONNECT is refused.

options:
  --db <path|url>    a hub database, a SQLite file or postgres://…; repeat for the IH and each SH
  --out <dir>        where passwd and acl go (what mosquitto.conf names)
  --pid <n>          the broker's process id, to send SIGHUP
  --pidfile <file>   the same, read from the broker's pid file
  -h, --help         this text`;

export interface SyncTarget {
  readonly dbs: readonly string[];
  readonly outDir: string;
  readonly pid?: number;
}

export async function brokerSyncCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('broker-sync', argv, {
    db: { type: 'string', multiple: true },
    out: { type: 'string' },
    pid: { type: 'string' },
    pidfile: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  positionals('broker-sync', rest, []);
  const dbs = values.db ?? [];
  if (dbs.length === 0) throw new UsageError('broker-sync: at least one --db <hub.db> is required');
  if (values.out === undefined) throw new UsageError('broker-sync: --out <dir> is required');
  if (values.pid !== undefined && values.pidfile !== undefined) throw new UsageError('broker-sync: give --pid or --pidfile, not both');
  const pid = values.pid === undefined ? undefined : integer('broker-sync', 'pid', values.pid, 0, 1, 2 ** 31 - 1);
  const outProblem = outputFolderProblem(values.out, 'must-exist');
  if (outProblem !== undefined) {
    io.err(`dominion broker-sync: --out ${outProblem}`);
    return 1;
  }
  try {
    report(
      io,
      writeBrokerFiles(await readAccounts(dbs), {
        outDir: values.out,
        ...(pid !== undefined ? { pid } : {}),
        ...(values.pidfile !== undefined ? { pidFile: values.pidfile } : {}),
      }),
    );
    return 0;
  } catch (err) {
    return failure(io, 'broker-sync', err);
  }
}

/** Options `enroll`, `revoke` and the like take to sync the broker right after their change. */
export const SYNC_OPTIONS = {
  'broker-dir': { type: 'string' },
  'broker-pid': { type: 'string' },
  'broker-db': { type: 'string', multiple: true },
} as const;

export const SYNC_HELP = `  --broker-dir <dir>       after the change, rewrite <dir>/passwd and <dir>/acl (dominion broker-sync)
  --broker-db <path>       more hub databases for that sync (the SHs'); repeat
  --broker-pid <n>         and send the broker SIGHUP to reload them`;

/** Runs the sync when `--broker-dir` was given: over `dbs` plus any `--broker-db`. */
export async function syncAfter(
  command: string,
  io: CliIo,
  values: { 'broker-dir'?: string; 'broker-pid'?: string; 'broker-db'?: string[] },
  dbs: readonly string[],
): Promise<void> {
  const outDir = values['broker-dir'];
  if (outDir === undefined) {
    if (values['broker-pid'] !== undefined || values['broker-db'] !== undefined)
      throw new UsageError(`${command}: --broker-pid and --broker-db need --broker-dir`);
    return;
  }
  const pid = values['broker-pid'] === undefined ? undefined : integer(command, 'broker-pid', values['broker-pid'], 0, 1, 2 ** 31 - 1);
  const all = [...new Set([...dbs, ...(values['broker-db'] ?? [])])];
  report(io, writeBrokerFiles(await readAccounts(all), { outDir, ...(pid !== undefined ? { pid } : {}) }));
}

/** Every hub database's broker accounts, SQLite files and PostgreSQL URLs alike, merged. */
async function readAccounts(dbs: readonly string[]): Promise<CollectedAccounts> {
  const each = [];
  for (const db of dbs) {
    if (!isPostgresUrl(db)) {
      const opened = sqlite.openHubDatabase(db, { create: false });
      try {
        each.push({ where: db, accounts: sqlite.brokerUsers(opened) });
      } finally {
        opened.close();
      }
      continue;
    }
    const pool = await openPool({ url: db, max: 1 });
    try {
      each.push({ where: dbLabel(db), accounts: await pgBrokerUsers(pool, dbLabel(db)) });
    } finally {
      await pool.end().catch(() => {});
    }
  }
  return mergeBrokerAccounts(each);
}

function report(io: CliIo, r: BrokerSyncResult): void {
  io.out(`broker files: ${r.passwdPath}, ${r.aclPath} (${r.devices} device(s), hubs ${r.hubs.join(', ')})`);
  for (const h of r.hubsWithoutCredential)
    io.err(`dominion broker-sync: WARNING: hub ${h} has no broker credential in its database; it cannot connect`);
  if (r.signalled !== undefined) io.out(`broker (pid ${r.signalled}) told to reload (SIGHUP)`);
}
