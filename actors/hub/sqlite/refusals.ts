/**
 * Refused requests per device (migration 7's `device_refusal`), for `dominion devices`: counted by
 * the journal (journal.ts) from the batch's own audit rows, in their transaction, so the count and
 * the audit log never disagree about what was committed, and reading it costs no audit scan.
 *
 * One write per device per batch, however many of its requests were refused; a refused request may
 * name any device id (a key enrolled for one device, a request naming another), so only enrolled
 * devices are counted: garbage ids cannot grow the table.
 */
import type { AuditEntry } from '../audit.ts';
import { tallyRefusals } from '../refusal-tally.ts';
import type { SqliteDatabase } from './database.ts';

export class RefusalCounter {
  private readonly upsert;

  constructor(db: SqliteDatabase) {
    this.upsert = db.prepare(
      `INSERT INTO device_refusal (device_id, count, last_at_ms, last_reason)
       SELECT @device, @count, @lastAtMs, @lastReason WHERE EXISTS (SELECT 1 FROM device WHERE device_id = @device)
       ON CONFLICT (device_id) DO UPDATE SET
         count       = count + excluded.count,
         last_reason = CASE WHEN excluded.last_at_ms >= last_at_ms THEN excluded.last_reason ELSE last_reason END,
         last_at_ms  = max(last_at_ms, excluded.last_at_ms)`,
    );
  }

  /** Counts the refused entries among `entries`; returns the rows written. */
  count(entries: Iterable<AuditEntry>): number {
    let rows = 0;
    for (const [device, t] of tallyRefusals(entries)) rows += this.upsert.run({ device, ...t }).changes;
    return rows;
  }
}

export interface DeviceRefusals {
  readonly count: number;
  readonly lastAtMs: number;
  readonly lastReason: string;
}
