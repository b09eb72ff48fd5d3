/**
 * Is the hub database's content sound? (docs/ARCHITECTURE.md §7, "Readiness".) Opening a file only
 * reads its header: a database whose b-tree pages are damaged opens, serves some reads, and fails
 * others with SQLITE_CORRUPT — a hub on it would look online and refuse requests. SQLite's own
 * checks find that damage: `PRAGMA quick_check` (every page and record, O(size), no index
 * cross-check) at hub start and on a schedule, `PRAGMA integrity_check` (also index contents) for
 * the operator's `dominion hub --check-db`.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { SqliteDatabase } from './database.ts';
import { HubStoreError, storeErrorOf } from './errors.ts';

export interface IntegrityReport {
  readonly ok: boolean;
  /** SQLite's own words for each problem found (at most the limit asked for); empty when ok. */
  readonly problems: readonly string[];
}

export type IntegrityCheckKind = 'quick' | 'full';

/** The most problems listed: the first few say enough to decide on a restore. */
export const MAX_REPORTED_PROBLEMS = 20;

/**
 * Runs `quick_check` (or `integrity_check` for `full`) on an open connection. Never throws for
 * damage: a check that itself stops on a malformed page (SQLITE_CORRUPT, SQLITE_NOTADB) reports
 * that as a problem. Other errors (busy, I/O) are thrown as HubStoreError — they say nothing
 * about the content.
 */
export function checkIntegrity(db: SqliteDatabase, kind: IntegrityCheckKind = 'quick', path = db.name): IntegrityReport {
  const pragma = kind === 'full' ? 'integrity_check' : 'quick_check';
  try {
    const rows = db.pragma(`${pragma}(${MAX_REPORTED_PROBLEMS})`, { simple: false }) as Record<string, unknown>[];
    const lines = rows.map((r) => String(Object.values(r)[0] ?? ''));
    if (lines.length === 1 && lines[0] === 'ok') return { ok: true, problems: [] };
    return { ok: false, problems: lines.length > 0 ? lines : [`${pragma} returned nothing`] };
  } catch (err) {
    const e = storeErrorOf(path, err);
    if (e.code === 'corrupt') return { ok: false, problems: [err instanceof Error ? err.message : String(err)] };
    throw e;
  }
}

/**
 * Checks a database file on a connection of its own, read-only, closed afterwards: it reads the
 * file as it is on disk (through the WAL), not a long-lived connection's page cache. A file that is
 * not SQLite at all is reported as a problem; a missing file or a busy database is thrown.
 */
export function checkDatabaseFile(path: string, kind: IntegrityCheckKind = 'quick'): IntegrityReport {
  if (!existsSync(path)) throw new HubStoreError('missing', `${path}: no hub database here`);
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return checkIntegrity(db, kind, path);
  } catch (err) {
    const e = storeErrorOf(path, err);
    if (e.code === 'corrupt') return { ok: false, problems: [err instanceof Error ? err.message : String(err)] };
    throw e;
  } finally {
    db?.close();
  }
}

/** What an operator reads when a hub will not serve from a damaged database: the file, the damage, what to do. */
export function corruptDatabaseError(path: string, report: IntegrityReport): HubStoreError {
  const shown = report.problems.slice(0, 3).join('; ');
  const more = report.problems.length > 3 ? ` (and ${report.problems.length - 3} more)` : '';
  return new HubStoreError(
    'corrupt',
    `${path}: the integrity check failed: ${shown}${more}. The hub will not serve from a damaged database: ` +
      `stop every hub process on it, restore it from a backup (or move it aside), then run "dominion hub --check-db --db ${path}"`,
  );
}
