/**
 * `dominion db migrate`: moves a hub from its SQLite file to PostgreSQL (docs/ARCHITECTURE.md §7.5):
 * the file's tables copied into an empty hub schema in one transaction (postgres/copy-sqlite.ts).
 */
import {
  copySqliteToPg,
  describeUrl,
  isPostgresUrl,
  migratePg,
  openPool,
  type CopyReport,
  type PgPool,
} from '../actors/hub/postgres/index.ts';
import { HubStoreError, openHubDatabase, type SqliteDatabase } from '../actors/hub/sqlite/index.ts';
import { dbLabel } from './pg-db.ts';
import { consoleIo, failure, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';

const DB_HELP = `usage: dominion db migrate --from <hub.db> --to postgres://user@host/db [--init]

Copies a SQLite hub database into an empty PostgreSQL hub schema, in one transaction: the hub's
identity, devices, keys, policies, operator holds, refusal counts, instance activity and deadlines,
the audit log (with its sequence numbers) and the pruned-audit summary, boots, the device history,
releases, rollouts with their counted rollbacks and failures, and broker credentials. Refuses a
schema that holds any hub row. Prints the rows copied per table.

Stop the SQLite hub first (what it commits during the copy is not copied). Answered nonces are not
copied (SQLite keeps only their references; a device refuses a ticket it already used in any
case). Then start the hub's workers with
"dominion hub --db postgres://… --key <its key file>".

options:
  --from <hub.db>    the SQLite hub database (read; brought to the current schema first)
  --to <url>         postgres://… (the schema: ?options=-c%20search_path%3D<schema>)
  --init             create the hub schema there first (else it must exist: dominion hub --init)
  -h, --help         this text`;

export async function dbCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: words } = parseCommand('db', argv, {
    from: { type: 'string' },
    to: { type: 'string' },
    init: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(DB_HELP);
    return 0;
  }
  const [sub] = positionals('db', words, ['migrate']);
  if (sub !== 'migrate') throw new UsageError(`db: unknown subcommand "${sub}" (expected migrate)`);
  const from = required('db', 'from', values.from);
  const to = required('db', 'to', values.to);
  if (isPostgresUrl(from)) throw new UsageError('db: --from is the SQLite hub database (a file)');
  if (!isPostgresUrl(to)) throw new UsageError('db: --to must be a postgres:// URL');
  let source: SqliteDatabase | undefined;
  let pool: PgPool | undefined;
  let report: CopyReport;
  try {
    source = openHubDatabase(from, { create: false });
    pool = await openPool({ url: to, max: 1, queryTimeoutMs: 600_000 });
    if (values.init) await migratePg(pool);
    report = await copySqliteToPg(source, pool, `PostgreSQL at ${describeUrl(to)}`);
  } catch (err) {
    return failure(io, 'db migrate', err instanceof Error && (err.name === 'error' || err.name === 'Error') ? named(to, err) : err);
  } finally {
    source?.close();
    await pool?.end().catch(() => {});
  }
  for (const c of report.copied) io.out(`${c.table.padEnd(18)} ${c.rows}`);
  io.out(`copied ${from} to ${dbLabel(to)} in one transaction`);
  return 0;
}

/** A server error (pg names them `error`, or `Error` for a lost connection) as one line naming the database. */
function named(url: string, err: Error): HubStoreError {
  return new HubStoreError('io', `PostgreSQL at ${describeUrl(url)}: ${err.message}`);
}
