/**
 * The deadline sweep on PostgreSQL (docs/ARCHITECTURE.md §7, §7.4): TIMEOUT (silent since its last
 * ticket) vs FAIL (asked, was refused), as sqlite/sweep.ts, in one statement. Workers of one hub
 * all sweep; the UPDATE … WHERE NOT expired … RETURNING records each deadline once: a second
 * worker's UPDATE waits for the first one's row lock, re-checks `NOT expired` and skips the row
 * (SKIP LOCKED keeps it from waiting at all on rows another sweep holds). Also forgets answered
 * nonces older than the replay window.
 */
import type { SweepResult } from '../sqlite/index.ts';
import type { PgQueryable } from './connect.ts';

const SWEEP = `WITH due AS (
    UPDATE instance_activity x SET expired = true,
      state = CASE WHEN x.last_request_at_ms IS NULL OR x.last_ticket_at_ms IS NULL OR x.last_request_at_ms <= x.last_ticket_at_ms
                   THEN 'timeout' ELSE x.state END
    WHERE (x.device_id, x.instance) IN (
        SELECT device_id, instance FROM instance_activity
        WHERE NOT expired AND deadline_ms IS NOT NULL AND deadline_ms < $1 LIMIT $3 FOR UPDATE SKIP LOCKED)
      AND NOT x.expired
    RETURNING x.device_id, x.instance, x.deadline_ms, x.last_reason,
      (x.last_request_at_ms IS NULL OR x.last_ticket_at_ms IS NULL OR x.last_request_at_ms <= x.last_ticket_at_ms) AS silent)
  INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance)
  SELECT $1, $2,
    CASE WHEN silent THEN 'timeout' ELSE 'fail' END,
    CASE WHEN silent THEN 'silent' ELSE coalesce(last_reason, 'refused') END,
    CASE WHEN silent THEN 'no request before the deadline at ' || to_char(to_timestamp(deadline_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         ELSE 'deadline ' || to_char(to_timestamp(deadline_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' passed after the hub refused' END,
    device_id, instance
  FROM due ORDER BY device_id, instance
  RETURNING outcome`;

/** Records every instance whose deadline is before `nowMs` and not yet recorded (at most `limit`). */
export async function sweepPgDeadlines(db: PgQueryable, nowMs: number, hubId: string | undefined, limit = 5000): Promise<SweepResult> {
  const r = await db.query<{ outcome: string }>(SWEEP, [nowMs, hubId ?? null, limit]);
  let timeouts = 0;
  for (const row of r.rows) if (row.outcome === 'timeout') timeouts++;
  return { timeouts, fails: r.rows.length - timeouts };
}

/** Forgets answered nonces that left the replay window (another worker may do the same: harmless). */
export async function pruneAnsweredNonces(db: PgQueryable, beforeMs: number, limit = 50_000): Promise<number> {
  const r = await db.query('DELETE FROM answered_nonce WHERE ctid IN (SELECT ctid FROM answered_nonce WHERE at_ms < $1 LIMIT $2)', [
    beforeMs,
    limit,
  ]);
  return r.rowCount ?? 0;
}
