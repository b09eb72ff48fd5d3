/**
 * Refused requests per device on PostgreSQL (migration 4's `device_refusal`, as sqlite/refusals.ts):
 * added by the journal (pg-journal.ts) from the batch's own audit rows, in their transaction, with
 * one statement per batch whatever the number of devices (the commit is the hot path). Rows are
 * written in device order, so two workers' batches lock them alike; only enrolled devices count.
 */
import type { AuditEntry } from '../audit.ts';
import { tallyRefusals } from '../refusal-tally.ts';
import type { PgQueryable } from './connect.ts';

const UPSERT_REFUSALS = `INSERT INTO device_refusal AS x (device_id, count, last_at_ms, last_reason)
  SELECT u.d, u.n, u.a, u.r FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS u(d, n, a, r)
    WHERE EXISTS (SELECT 1 FROM device WHERE device_id = u.d) ORDER BY u.d
  ON CONFLICT (device_id) DO UPDATE SET
    count       = x.count + excluded.count,
    last_reason = CASE WHEN excluded.last_at_ms >= x.last_at_ms THEN excluded.last_reason ELSE x.last_reason END,
    last_at_ms  = greatest(x.last_at_ms, excluded.last_at_ms)`;

/** Counts the refused entries among `audits` (no statement when there are none); returns the rows written. */
export async function pgCountRefusals(c: PgQueryable, audits: readonly AuditEntry[]): Promise<number> {
  const tally = tallyRefusals(audits);
  if (tally.size === 0) return 0;
  const devices = [...tally.keys()];
  const rows = devices.map((d) => tally.get(d)!);
  const r = await c.query(UPSERT_REFUSALS, [devices, rows.map((t) => t.count), rows.map((t) => t.lastAtMs), rows.map((t) => t.lastReason)]);
  return r.rowCount ?? 0;
}
