/**
 * Operator commands on a PostgreSQL hub database (`--db postgres://…`, docs/ARCHITECTURE.md §7.5):
 * which `--db` is which, opening one for a command, and the clear refusal of commands that do not
 * work on PostgreSQL yet. A URL is never printed with its password (describeUrl).
 */
import { describeUrl, isPostgresUrl, openPool, requirePgSchema, type PgPool } from '../actors/hub/postgres/index.ts';
import { HubStoreError } from '../actors/hub/sqlite/index.ts';
import { failure, type CliIo } from './options.ts';

export { isPostgresUrl };

/** How a `--db` is named in output: a file by its path, a URL as `postgres://host:port/db` without credentials. */
export function dbLabel(db: string): string {
  return isPostgresUrl(db) ? `postgres://${describeUrl(db)}` : db;
}

/** Refuses (exit 1, one line) a command given a PostgreSQL `--db` it cannot serve yet; undefined when all are SQLite. */
export function refusePostgres(io: CliIo, command: string, dbs: ReadonlyArray<string | undefined>): number | undefined {
  if (!dbs.some((db) => db !== undefined && isPostgresUrl(db))) return undefined;
  io.err(`dominion ${command}: not supported on PostgreSQL yet`);
  return 1;
}

/** Opens the hub schema at `url` (never creates it), runs `fn`, closes; store and server errors → exit 1. */
export async function withPgDatabase(io: CliIo, command: string, url: string, fn: (pool: PgPool) => Promise<number>): Promise<number> {
  const where = `PostgreSQL at ${describeUrl(url)}`;
  let pool: PgPool;
  try {
    pool = await openPool({ url, max: 2 });
  } catch (err) {
    return failure(io, command, err);
  }
  try {
    await requirePgSchema(pool, where);
    return await fn(pool);
  } catch (err) {
    // A server error (pg's DatabaseError) is one line naming the database, like a store error.
    // (pg names its errors `error`, or plain `Error` for timeouts and lost connections.)
    const named = err instanceof Error && (err.name === 'error' || err.name === 'Error') ? pgError(where, err) : err;
    return failure(io, command, named);
  } finally {
    await pool.end().catch(() => {});
  }
}

function pgError(where: string, err: Error): HubStoreError {
  return new HubStoreError('io', `${where}: ${err.message}`);
}
