/**
 * The deadline sweep (docs/ARCHITECTURE.md §7): an instance whose deadline (last ticket + its deferral)
 * passed is recorded once, and the two causes are kept apart:
 *
 * - `timeout`: no request since its last ticket — the instance (or its network) fell silent;
 * - `fail`:    it asked, but the hub refused (a failed check, quarantine, an operator withhold, an
 *              update it did not run); the reason is the last refusal's.
 *
 * Hub processes sharing one database may sweep at once: the UPDATE … WHERE expired = 0 inside an
 * IMMEDIATE transaction lets exactly one of them record each deadline.
 */
import type { SqliteDatabase } from './database.ts';

export interface SweepResult {
  readonly timeouts: number;
  readonly fails: number;
}

interface DueRow {
  device_id: string;
  instance: string;
  deadline_ms: number;
  last_request_at_ms: number | null;
  last_ticket_at_ms: number | null;
  last_reason: string | null;
}

/**
 * Records every instance whose deadline is before `nowMs − lagMs` and not yet recorded (at most
 * `limit`). `lagMs`: how long a newer deadline may wait in a hub process's memory before it is
 * written (activity-buffer.ts); 0 when activity is written with each batch.
 */
export function sweepDeadlines(db: SqliteDatabase, nowMs: number, hubId: string | undefined, limit = 5000, lagMs = 0): SweepResult {
  let timeouts = 0;
  let fails = 0;
  db.transaction(() => {
    const due = db
      .prepare(
        `SELECT device_id, instance, deadline_ms, last_request_at_ms, last_ticket_at_ms, last_reason FROM instance_activity
         WHERE expired = 0 AND deadline_ms IS NOT NULL AND deadline_ms < ? LIMIT ?`,
      )
      .all(nowMs - lagMs, limit) as DueRow[];
    if (due.length === 0) return;
    const mark = db.prepare(
      `UPDATE instance_activity SET expired = 1, state = CASE WHEN ? THEN 'timeout' ELSE state END
       WHERE device_id = ? AND instance = ? AND expired = 0 AND deadline_ms = ?`,
    );
    const audit = db.prepare(
      'INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const row of due) {
      // A ticket records its request at the same instant, so "silent" = nothing asked after it.
      const silent = row.last_request_at_ms === null || row.last_ticket_at_ms === null || row.last_request_at_ms <= row.last_ticket_at_ms;
      if (mark.run(silent ? 1 : 0, row.device_id, row.instance, row.deadline_ms).changes === 0) continue;
      if (silent) {
        timeouts++;
        audit.run(
          nowMs,
          hubId ?? null,
          'timeout',
          'silent',
          `no request before the deadline at ${new Date(row.deadline_ms).toISOString()}`,
          row.device_id,
          row.instance,
        );
      } else {
        fails++;
        audit.run(
          nowMs,
          hubId ?? null,
          'fail',
          row.last_reason ?? 'refused',
          `deadline ${new Date(row.deadline_ms).toISOString()} passed after the hub refused`,
          row.device_id,
          row.instance,
        );
      }
    }
  }).immediate();
  return { timeouts, fails };
}
