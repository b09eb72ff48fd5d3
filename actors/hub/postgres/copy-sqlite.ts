/**
 * `dominion db migrate`: a SQLite hub database copied into an empty PostgreSQL hub schema, in one
 * transaction (docs/ARCHITECTURE.md §7.5). Every table both schemas have is copied, column by
 * column where both have the column (SQLite's 0/1 become booleans); audit and history sequence numbers
 * and rollout ids are kept, and their identity sequences moved past them. A target holding any hub row
 * is refused: this is a move, not a merge.
 *
 * Every SQLite hub table has its PostgreSQL counterpart. Answered nonces are not copied: SQLite keeps
 * only their 8-byte audit references (sqlite/replay-log.ts), PostgreSQL the whole nonce — stop the
 * SQLite hub before the copy; the AWDT refuses a ticket it already used in any case.
 */
import type { SqliteDatabase } from '../sqlite/database.ts';
import { HubStoreError } from '../sqlite/errors.ts';
import { inTransaction, type PgPool, type PgQueryable } from './connect.ts';
import { requirePgSchema } from './migrations.ts';

/** In copy order (parents before the rows that name them). */
export const COPIED_TABLES = [
  'meta',
  'device',
  'device_refusal',
  'device_key',
  'fleet_policy',
  'operator_hold',
  'instance_activity',
  'audit',
  'audit_summary',
  'device_boot',
  'device_history',
  'release',
  'rollout',
  'rollout_failure',
  'broker_credential',
] as const;

export interface CopyReport {
  /** Rows copied per table, in copy order. */
  readonly copied: ReadonlyArray<{ readonly table: string; readonly rows: number }>;
}

/** Most bound parameters per INSERT (PostgreSQL allows 65 535). */
const MAX_PARAMS = 30_000;

export async function copySqliteToPg(source: SqliteDatabase, pool: PgPool, where: string): Promise<CopyReport> {
  await requirePgSchema(pool, where);
  return inTransaction(pool, async (c) => {
    // No worker writes while we copy, and none starts on a half-copied schema.
    await c.query(`LOCK TABLE ${COPIED_TABLES.join(', ')} IN EXCLUSIVE MODE`);
    for (const table of COPIED_TABLES) {
      const r = await c.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${table}`);
      if ((r.rows[0]?.n ?? 0) > 0)
        throw new HubStoreError('refused', `${where}: table ${table} is not empty; db migrate copies into an empty hub schema only`);
    }
    const copied: Array<{ table: string; rows: number }> = [];
    for (const table of COPIED_TABLES) copied.push({ table, rows: await copyTable(source, c, table) });
    for (const [table, column] of [
      ['audit', 'seq'],
      ['device_history', 'seq'],
      ['rollout', 'id'],
    ] as const)
      await c.query(
        `SELECT setval(pg_get_serial_sequence('${table}', '${column}'), coalesce((SELECT max(${column}) FROM ${table}), 0) + 1, false)`,
      );
    return { copied };
  });
}

async function copyTable(source: SqliteDatabase, c: PgQueryable, table: string): Promise<number> {
  const target = await c.query<{ column_name: string; data_type: string; is_identity: string }>(
    `SELECT column_name, data_type, is_identity FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  const sourceColumns = new Set((source.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]) ?? []);
  const columns = target.rows.filter((col) => sourceColumns.has(col.column_name));
  if (columns.length === 0) return 0;
  const names = columns.map((col) => col.column_name);
  const boolean = columns.map((col) => col.data_type === 'boolean');
  const overriding = columns.some((col) => col.is_identity === 'YES') ? ' OVERRIDING SYSTEM VALUE' : '';
  // Releases carry whole bundles: one row per statement keeps each one bounded.
  const perStatement = table === 'release' ? 1 : Math.max(1, Math.floor(MAX_PARAMS / names.length));
  let rows = 0;
  let batch: unknown[][] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const values = batch.map((_, i) => `(${names.map((__, j) => `$${i * names.length + j + 1}`).join(', ')})`).join(', ');
    await c.query(`INSERT INTO ${table} (${names.join(', ')})${overriding} VALUES ${values}`, batch.flat());
    rows += batch.length;
    batch = [];
  };
  const read = source.prepare(`SELECT ${names.join(', ')} FROM ${table}`).raw();
  for (const row of read.iterate() as IterableIterator<unknown[]>) {
    batch.push(row.map((v, j) => (boolean[j] && typeof v === 'number' ? v !== 0 : v)));
    if (batch.length >= perStatement) await flush();
  }
  await flush();
  return rows;
}
