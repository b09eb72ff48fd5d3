/**
 * Opening a hub database: better-sqlite3 12.x in WAL mode, so operator commands in other processes
 * read and write while the hub serves. Every failure at open — missing file, a file that is not
 * SQLite, a schema from a newer dominion, someone else's SQLite file — is a HubStoreError with a
 * message an operator can act on, raised here at start-up rather than on the first request.
 *
 * Durability: `synchronous = NORMAL` (the default here) makes every committed transaction survive a
 * crash of the process (kill -9): the WAL write has reached the OS before COMMIT returns. `FULL`
 * also survives power loss, at the price of an fsync per commit.
 */
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { HubStoreError, storeErrorOf } from './errors.ts';
import { checkIntegrity, corruptDatabaseError } from './integrity.ts';
import { migrate, schemaVersion } from './migrations.ts';

export type SqliteDatabase = Database.Database;

export interface OpenHubDatabaseOptions {
  /** Create the file and its schema when missing (or empty). Default false: a missing file is an error. */
  readonly create?: boolean;
  /** `normal` (default): survives a process crash. `full`: also survives power loss. */
  readonly synchronous?: 'normal' | 'full';
  /** How long a write waits for another process's transaction. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * Run `PRAGMA quick_check` before anything else and refuse a damaged file (HubStoreError
   * `corrupt`). The hub does (sqlite-hub.ts); operator commands do not (it reads every page).
   */
  readonly integrityCheck?: boolean;
}

const REQUIRED_TABLES = [
  'meta',
  'device',
  'device_key',
  'fleet_policy',
  'operator_hold',
  'instance_activity',
  'audit',
  'release',
  'device_boot',
  'rollout',
  'rollout_failure',
];

export function openHubDatabase(path: string, options: OpenHubDatabaseOptions = {}): SqliteDatabase {
  const create = options.create ?? false;
  if (path === '' || path === ':memory:') throw new HubStoreError('io', 'a hub database must be a file (got an empty or in-memory path)');
  if (!existsSync(path)) {
    if (!create)
      throw new HubStoreError('missing', `${path}: no hub database here (create one with "dominion hub --init …" or "dominion enroll …")`);
  } else if (statSync(path).isDirectory()) {
    throw new HubStoreError('io', `${path}: is a directory, not a database file`);
  }
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(path, { fileMustExist: !create, timeout: options.busyTimeoutMs ?? 5000 });
    // The first statement reads the header: a file that is not SQLite fails here (SQLITE_NOTADB).
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    // 64 MiB of page cache (the default is 2 MiB): instance activity is updated at random rows.
    db.pragma('cache_size = -65536');
    // Damaged pages past the header open fine and fail later, request by request (integrity.ts).
    if (options.integrityCheck === true) {
      const report = checkIntegrity(db, 'quick', path);
      if (!report.ok) throw corruptDatabaseError(path, report);
    }
    const version = schemaVersion(db);
    if (version === 0) {
      const tables = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get() as number;
      if (tables > 0) throw new HubStoreError('not-a-hub-db', `${path}: an SQLite database, but not a dominion hub database`);
      if (!create) throw new HubStoreError('missing', `${path}: empty file, not a hub database (pass --init to create one)`);
    }
    migrate(db);
    const present = new Set(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[]);
    const absent = REQUIRED_TABLES.filter((t) => !present.has(t));
    if (absent.length > 0) throw new HubStoreError('not-a-hub-db', `${path}: hub tables missing (${absent.join(', ')})`);
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // already failing; the original error is the one to report
    }
    throw storeErrorOf(path, err);
  }
}
