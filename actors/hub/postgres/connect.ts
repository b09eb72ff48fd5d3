/**
 * Connections to a hub's PostgreSQL database (node-postgres `pg`; docs/ARCHITECTURE.md §7.4): a
 * pool for commits, reads and operator changes, with bigint columns read as numbers (ms times fit),
 * a client-side query timeout (a commit that hangs on a half-open connection must fail, not hold
 * the hub's one commit in flight forever) and an optional schema (`search_path`: tests, or several
 * hubs in one database). Errors name the host, never the password.
 */
import type pg from 'pg';
import { HubStoreError } from '../sqlite/errors.ts';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient | pg.Client;
/** Anything that runs a query: the pool, or one client inside a transaction. */
export type PgQueryable = Pick<pg.Pool, 'query'> | PgClient;

export interface PgConnectOptions {
  /** `postgres://user@host:port/database` */
  readonly url: string;
  /** Schema holding the hub's tables (default: the server's search_path, normally `public`). */
  readonly schema?: string;
  /** Connections in the pool (default 4: one commit in flight, sweeps, reloads, operator reads). */
  readonly max?: number;
  /** Bound on one query, client side (default 10 000 ms). */
  readonly queryTimeoutMs?: number;
  /** Bound on opening a connection (default 5 000 ms). */
  readonly connectTimeoutMs?: number;
}

/**
 * The driver, loaded at the first connection: a process that opens no PostgreSQL URL (a SQLite hub,
 * the dashboard on SQLite files) does not pay its ~14 MB of RSS.
 */
async function driver(): Promise<typeof pg> {
  return (await import('pg')).default;
}

/** bigint (int8) as number: every bigint the hub stores is a time in ms or a counter. */
function typesOf(module: typeof pg): { getTypeParser: typeof pg.types.getTypeParser } {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20 ? (v: string) => Number(v) : module.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
}

/** Client settings for `options` (host, database, schema, timeouts), for the loaded driver. */
export function clientConfig(options: PgConnectOptions, module: typeof pg): pg.ClientConfig {
  const types = typesOf(module);
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema))
    throw new HubStoreError('refused', `schema name ${JSON.stringify(options.schema)}: use 1-63 of [a-z0-9_], not starting with a digit`);
  return {
    connectionString: options.url,
    types,
    query_timeout: options.queryTimeoutMs ?? 10_000,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    application_name: 'dominion-hub',
    ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
  };
}

/** Where the URL points, without credentials: `host:port/database`. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(an unparsable postgres:// URL)';
  }
}

/** True for `postgres://` and `postgresql://` URLs: the CLI's `--db` picks the PostgreSQL store by this. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * A pool, checked with one round trip: an unreachable server fails here, naming the host. Idle
 * connections that die later (the server restarts) are dropped by the pool, not thrown.
 */
export async function openPool(options: PgConnectOptions, onIdleError?: (err: Error) => void): Promise<PgPool> {
  const module = await driver();
  const pool = new module.Pool({ ...clientConfig(options, module), max: options.max ?? 4 });
  pool.on('error', (err) => onIdleError?.(err));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw connectError(options.url, err);
  }
  return pool;
}

/** One dedicated connection (LISTEN needs its own). */
export async function openClient(options: PgConnectOptions): Promise<pg.Client> {
  const module = await driver();
  const client = new module.Client(clientConfig(options, module));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectError(options.url, err);
  }
  return client;
}

export function connectError(url: string, err: unknown): HubStoreError {
  const why = err instanceof Error ? err.message || (err as { code?: string }).code || err.name : String(err);
  return new HubStoreError('io', `PostgreSQL at ${describeUrl(url)}: cannot connect (${why})`);
}

/** Runs `work` in one transaction on a client of its own; rolls back when it throws. */
export async function inTransaction<T>(pool: PgPool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => void (broken = true));
    throw err;
  } finally {
    // A connection that could not even roll back is not given to the next caller.
    client.release(broken ? true : undefined);
  }
}
