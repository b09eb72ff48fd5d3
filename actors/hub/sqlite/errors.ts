/**
 * Typed errors of the hub database. Messages name the file and what is wrong with it, never key
 * material, so they are safe to print at start-up.
 */
export type HubStoreErrorCode =
  /** No database file at the path (and creating one was not asked for). */
  | 'missing'
  /** The file is not an SQLite database, or its pages are damaged. */
  | 'corrupt'
  /** Written by a newer dominion (schema version above what this one knows). */
  | 'too-new'
  /** An SQLite database, but not a dominion hub database (or tables are missing). */
  | 'not-a-hub-db'
  /** The database belongs to another hub (id, role or service differ). */
  | 'wrong-hub'
  /** Another process holds the database locked beyond the busy timeout. */
  | 'busy'
  /** Anything else SQLite or the file system reported. */
  | 'io'
  /** An operator or enrolment request that cannot be carried out (unknown device, revoked, …). */
  | 'refused';

export class HubStoreError extends Error {
  override readonly name = 'HubStoreError';
  constructor(
    readonly code: HubStoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Maps an SQLite error (better-sqlite3's SqliteError carries `code`) to a HubStoreError. */
export function storeErrorOf(path: string, err: unknown): HubStoreError {
  if (err instanceof HubStoreError) return err;
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_')) {
    return new HubStoreError('corrupt', `${path}: not a usable hub database (${message}); restore it from a backup or move it aside`);
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_BUSY_')) {
    return new HubStoreError('busy', `${path}: database is locked by another process (${message})`);
  }
  if (code === 'SQLITE_CANTOPEN') return new HubStoreError('missing', `${path}: cannot open the database file (${message})`);
  return new HubStoreError('io', `${path}: ${message}`);
}
