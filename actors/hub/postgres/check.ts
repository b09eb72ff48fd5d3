/**
 * `dominion hub --check-db --db postgres://…`: is this a hub schema a worker can serve from? The
 * counterpart of SQLite's integrity check (sqlite/integrity.ts) where PostgreSQL keeps its own pages
 * sound: the schema is there at the version this dominion knows, every hub table can be read (a
 * missing grant or relation fails here, not under load), the audit log's triggers are in
 * place (append-only; pruned rows counted), and the database belongs to the hub the key file names.
 * Read-only, safe beside running workers (plain reads; no lock beyond theirs).
 */
import type { IntegrityReport } from '../sqlite/integrity.ts';
import type { HubIdentity } from '../sqlite/index.ts';
import { readPgHubIdentity } from './admin.ts';
import { hubName } from '../role.ts';
import type { PgQueryable } from './connect.ts';
import { COPIED_TABLES } from './copy-sqlite.ts';
import { PG_SCHEMA_VERSION, pgSchemaVersion } from './migrations.ts';

/** Every table of the current schema. */
const HUB_TABLES = [...COPIED_TABLES, 'answered_nonce', 'schema_version'] as const;

/** Triggers the audit log needs, and what is lost without each. */
const AUDIT_TRIGGERS: ReadonlyArray<readonly [string, string]> = [
  ['audit_no_update', 'the audit log is no longer append-only'],
  ['audit_delete_summarised', 'pruned audit rows would leave uncounted'],
];

export interface PgCheckReport extends IntegrityReport {
  /** The schema version found (0: none). */
  readonly version: number;
  /** The hub the database belongs to, when one claimed it. */
  readonly identity?: HubIdentity;
}

/**
 * Checks the hub schema on `db`; with `expected` (the key file's hub), that the database is that
 * hub's. Problems are reported, not thrown; a lost connection is thrown.
 */
export async function pgCheckDatabase(db: PgQueryable, expected?: HubIdentity): Promise<PgCheckReport> {
  const version = await pgSchemaVersion(db);
  if (version === 0) return { ok: false, version, problems: ['no dominion hub schema here (dominion hub --init creates it)'] };
  if (version > PG_SCHEMA_VERSION)
    return { ok: false, version, problems: [`schema version ${version} is newer than this dominion knows (${PG_SCHEMA_VERSION})`] };
  if (version < PG_SCHEMA_VERSION) {
    const problem = `schema version ${version} is old (this dominion's is ${PG_SCHEMA_VERSION}): start one worker with --init to migrate it`;
    return { ok: false, version, problems: [problem] };
  }
  const problems: string[] = [];
  for (const table of HUB_TABLES) {
    try {
      // Each table read through (PostgreSQL may count from an index): a missing privilege or an unreadable
      // relation shows now, not when a worker needs it; page checksums stay PostgreSQL's own.
      await db.query(`SELECT count(*) FROM ${table}`);
    } catch (err) {
      problems.push(`table ${table}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const triggers = await db.query<{ tgname: string }>(
    "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('audit') AND NOT tgisinternal AND tgenabled <> 'D'",
  );
  const present = new Set(triggers.rows.map((r) => r.tgname));
  for (const [name, lost] of AUDIT_TRIGGERS)
    if (!present.has(name)) problems.push(`trigger ${name} on audit is missing or disabled: ${lost}`);
  const identity = await readPgHubIdentity(db);
  if (identity !== undefined && expected !== undefined && hubName(identity) !== hubName(expected))
    problems.push(`this database belongs to hub ${hubName(identity)}, not ${hubName(expected)} (the key file's)`);
  return { ok: problems.length === 0, version, problems, ...(identity !== undefined ? { identity } : {}) };
}
