/**
 * The fleet in a fresh PostgreSQL database: enrolled in bulk into a SQLite file first (enrol.ts),
 * then moved with the project's own `dominion db migrate` path (copySqliteToPg, one transaction), so
 * both stores start from the same rows. The database is created here and dropped by the cleanup.
 */
import { execFileSync } from 'node:child_process';
import { hex, randomNonce } from '../../actors/crypto/index.ts';
import { copySqliteToPg, migratePg, openPool } from '../../actors/hub/postgres/index.ts';
import { openHubDatabase } from '../../actors/hub/sqlite/index.ts';

export interface PgFleetDatabase {
  /** What the hub gets as `--db`. */
  readonly url: string;
  readonly copyMs: number;
  readonly drop: () => void;
}

/**
 * `server` is a postgres:// URL whose user may create databases (trust auth, as in the dev set-up);
 * its database part is replaced by a fresh one named after this run.
 */
export async function pgFleetDatabase(server: string, sqlitePath: string): Promise<PgFleetDatabase> {
  const u = new URL(server);
  const name = `dominion_fleet_${hex(randomNonce(4))}`;
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
  execFileSync('createdb', [...args, name], { stdio: 'pipe' });
  const drop = (): void => void execFileSync('dropdb', [...args, '--if-exists', '--force', name], { stdio: 'pipe' });
  u.pathname = `/${name}`;
  const url = u.toString();
  const t = performance.now();
  const source = openHubDatabase(sqlitePath, { create: false });
  const pool = await openPool({ url, max: 1, queryTimeoutMs: 600_000 });
  try {
    await migratePg(pool);
    await copySqliteToPg(source, pool, `PostgreSQL ${name}`);
  } catch (err) {
    drop();
    throw err;
  } finally {
    source.close();
    await pool.end().catch(() => {});
  }
  return { url, copyMs: performance.now() - t, drop };
}
