/**
 * Audit retention (docs/ARCHITECTURE.md §7.2): audit rows older than the kept days are deleted in
 * small batches, each its own short IMMEDIATE transaction, so a hub answering requests on the same
 * database waits at most one batch. Nothing leaves uncounted: the `audit_delete_summarised` trigger
 * (migration 6) adds every deleted row to `audit_summary` (per UTC day, device, outcome, reason) in
 * the deleting transaction, and `auditSummary` reads those counts together with the rows still kept.
 *
 * The replay log (replay-log.ts) reads the audit's recent tail at start, so the cut never comes
 * closer to now than the replay window plus the same minute of slack it reads back.
 */
import type { SqliteDatabase } from './database.ts';

export const DAY_MS = 86_400_000;
/** Rows per prune transaction: a few milliseconds of write lock. */
export const PRUNE_BATCH = 1000;
/** The replay log reads back this much before its window (replay-log.ts `load`). */
const REPLAY_SLACK_MS = 60_000;

export interface PruneOptions {
  /** Days of audit rows to keep (at least 1). */
  readonly keepDays: number;
  readonly nowMs: number;
  /** The replay window of the hubs on this database; rows inside it (plus slack) are never pruned. */
  readonly replayWindowMs: number;
  readonly batch?: number;
  /** At most this many batches (default: until nothing older than the cut is left). */
  readonly maxBatches?: number;
}

export interface PruneResult {
  /** Rows older than this instant were pruned. */
  readonly cutMs: number;
  readonly deleted: number;
  /** True when rows older than the cut remain (maxBatches reached). */
  readonly more: boolean;
}

/** The instant before which rows may go: kept days back, and never inside the replay window. */
export function pruneCut(keepDays: number, nowMs: number, replayWindowMs: number): number {
  if (!Number.isSafeInteger(keepDays) || keepDays < 1) throw new RangeError(`audit retention must be at least 1 day, got ${keepDays}`);
  return Math.min(nowMs - keepDays * DAY_MS, nowMs - replayWindowMs - REPLAY_SLACK_MS);
}

/** Deletes audit rows older than the cut, batch by batch; each deleted row is summarised (trigger). */
export function pruneAudit(db: SqliteDatabase, options: PruneOptions): PruneResult {
  const cutMs = pruneCut(options.keepDays, options.nowMs, options.replayWindowMs);
  const batch = options.batch ?? PRUNE_BATCH;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  const remove = db.prepare('DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at_ms < ? ORDER BY at_ms LIMIT ?)');
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = db.transaction(() => remove.run(cutMs, batch).changes).immediate();
    deleted += n;
    if (n < batch) return { cutMs, deleted, more: false };
  }
  const left = db.prepare('SELECT 1 FROM audit WHERE at_ms < ? LIMIT 1').pluck().get(cutMs) !== undefined;
  return { cutMs, deleted, more: left };
}

export interface AuditSummaryRow {
  /** UTC day, YYYY-MM-DD. */
  readonly day: string;
  /** Absent for rows about no device (operator commands on the fleet, refused garbage). */
  readonly deviceId?: string;
  readonly outcome: string;
  readonly reason: string;
  readonly count: number;
  /** How many of `count` were pruned (kept only as this count). */
  readonly pruned: number;
}

interface SummaryRow {
  day: string;
  device_id: string;
  outcome: string;
  reason: string;
  count: number;
  pruned: number;
}

/** Per day, device, outcome and reason: pruned counts plus the rows still kept; oldest day first. */
export function auditSummary(db: SqliteDatabase, deviceId?: string): AuditSummaryRow[] {
  const rows = db
    .prepare(
      `SELECT day, device_id, outcome, reason, sum(count) AS count, sum(pruned) AS pruned FROM (
         SELECT day, device_id, outcome, reason, count, count AS pruned FROM audit_summary WHERE @device IS NULL OR device_id = @device
         UNION ALL
         SELECT strftime('%Y-%m-%d', at_ms / 1000, 'unixepoch'), coalesce(device_id, ''), outcome, reason, count(*), 0 FROM audit
           WHERE @device IS NULL OR device_id = @device GROUP BY 1, 2, 3, 4
       ) GROUP BY day, device_id, outcome, reason ORDER BY day, device_id, outcome, reason`,
    )
    .all({ device: deviceId ?? null }) as SummaryRow[];
  return rows.map((r) => ({
    day: r.day,
    ...(r.device_id !== '' ? { deviceId: r.device_id } : {}),
    outcome: r.outcome,
    reason: r.reason,
    count: r.count,
    pruned: r.pruned,
  }));
}
