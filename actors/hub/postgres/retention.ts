/**
 * Audit retention on PostgreSQL (the counterpart of sqlite/retention.ts; docs/ARCHITECTURE.md §7.2):
 * rows older than the kept days are deleted in small batches, each its own short transaction, and
 * the `audit_delete_summarised` trigger (migration 2) counts every deleted row in `audit_summary`
 * in the deleting transaction. The cut is the same as SQLite's (`pruneCut`).
 */
import { PRUNE_BATCH, pruneCut, type AuditSummaryRow, type PruneOptions, type PruneResult } from '../sqlite/retention.ts';
import type { PgQueryable } from './connect.ts';

/** Deletes audit rows older than the cut, batch by batch; each deleted row is summarised (trigger). */
export async function pgPruneAudit(db: PgQueryable, options: PruneOptions): Promise<PruneResult> {
  const cutMs = pruneCut(options.keepDays, options.nowMs, options.replayWindowMs);
  const batch = options.batch ?? PRUNE_BATCH;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const r = await db.query('DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)', [
      cutMs,
      batch,
    ]);
    const n = r.rowCount ?? 0;
    deleted += n;
    if (n < batch) return { cutMs, deleted, more: false };
  }
  const left = (await db.query('SELECT 1 FROM audit WHERE at_ms < $1 LIMIT 1', [cutMs])).rows.length > 0;
  return { cutMs, deleted, more: left };
}

/** Per day, device, outcome and reason: pruned counts plus the rows still kept; oldest day first. */
export async function pgAuditSummary(db: PgQueryable, deviceId?: string): Promise<AuditSummaryRow[]> {
  const r = await db.query<{ day: string; device_id: string; outcome: string; reason: string; count: number; pruned: number }>(
    `SELECT day, device_id, outcome, reason, sum(count)::bigint AS count, sum(pruned)::bigint AS pruned FROM (
       SELECT day, device_id, outcome, reason, count, count AS pruned FROM audit_summary WHERE $1::text IS NULL OR device_id = $1
       UNION ALL
       SELECT to_char(to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(device_id, ''), outcome, reason,
              count(*), 0 FROM audit WHERE $1::text IS NULL OR device_id = $1 GROUP BY 1, 2, 3, 4
     ) s GROUP BY day, device_id, outcome, reason
     ORDER BY day, device_id COLLATE "C", outcome COLLATE "C", reason COLLATE "C"`,
    [deviceId ?? null],
  );
  return r.rows.map((row) => ({
    day: row.day,
    ...(row.device_id !== '' ? { deviceId: row.device_id } : {}),
    outcome: row.outcome,
    reason: row.reason,
    count: row.count,
    pruned: row.pruned,
  }));
}
