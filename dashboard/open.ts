/**
 * Opening the `--db` list: SQLite files (checked with PRAGMA quick_check) and PostgreSQL URLs, each
 * labelled by its hub id (SQLite) or its URL without credentials. Any failure closes what was opened
 * and throws the store's one-line error: the command exits 1 before it listens.
 */
import { isPostgresUrl } from '../actors/hub/postgres/index.ts';
import { PgSource } from './pg-source.ts';
import type { HubSource } from './source.ts';
import { SqliteSource } from './sqlite-source.ts';

export async function openSources(dbs: readonly string[], onIdleError?: (err: Error) => void): Promise<HubSource[]> {
  const opened: HubSource[] = [];
  try {
    for (const db of dbs) {
      if (isPostgresUrl(db)) opened.push(await PgSource.open(db, onIdleError));
      else opened.push(SqliteSource.open(db));
    }
  } catch (err) {
    for (const s of opened) await s.close();
    throw err;
  }
  // Two databases of one hub id (copies, a test) stay apart in the page.
  const seen = new Map<string, number>();
  for (const s of opened) {
    const n = (seen.get(s.label) ?? 0) + 1;
    seen.set(s.label, n);
    if (n > 1) s.label = `${s.label} #${n}`;
  }
  return opened;
}
