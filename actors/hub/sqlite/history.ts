/**
 * The device history (docs/ARCHITECTURE.md §7, migration 7): what devices reported of their boots —
 * boot counts, reset reasons, firmware and image versions — one row when a report differs from the
 * previous one of the same (device, instance, source), never one per request.
 *
 * Written by the journal (journal.ts) in the batch's transaction, with the audit rows of the requests
 * the reports came from. A repeated report costs no SQL: the last report seen per (device, instance,
 * source) is kept in memory. Only a report new to this process — its first from that instance since
 * start, or a change — reads the table's latest row inside the transaction, so a second hub process
 * on the same database, or a restart, never records one boot twice. What a transaction staged enters
 * the memory only once it commits.
 *
 * Bounded: after a batch, each (device, instance) that got rows keeps only its newest `keep`, in the
 * same transaction; a device reporting a new boot at every request replaces its own rows and nobody
 * else's. Reported values are exact numbers or nothing (runtime-record.ts) and bounded strings
 * (validated before the decision), so a hostile report can neither grow the table nor fail a commit.
 */
import type { ActivityEffect, BootRecord } from '../effects.ts';
import {
  activityReport,
  bootReport,
  HISTORY_KEEP,
  historyEntryOf,
  HistoryMemory,
  signatureOf,
  type HistoryEntry,
  type HistoryQuery,
  type HistoryRecorderOptions,
  type HistoryReport,
  type HistoryRow,
  type HistoryValues,
} from '../history-reports.ts';
import type { SqliteDatabase } from './database.ts';

// The store-independent half is shared with PostgreSQL (history-reports.ts).
export { HISTORY_KEEP, type HistoryEntry, type HistoryQuery, type HistoryRecorderOptions, type HistorySource } from '../history-reports.ts';

export class HistoryRecorder {
  private readonly keep: number;
  private readonly memory: HistoryMemory;
  /** (device, instance) pairs that got rows in the open transaction, to trim. */
  private touched = new Map<string, readonly [string, string]>();
  private readonly latest;
  private readonly insert;
  private readonly trim;

  constructor(
    db: SqliteDatabase,
    private readonly hubId: string | null,
    options: HistoryRecorderOptions = {},
  ) {
    this.keep = options.keep ?? HISTORY_KEEP;
    this.memory = new HistoryMemory(options.cacheSize);
    this.latest = db.prepare(
      `SELECT boot_count, reset_reason, firmware_version, images FROM device_history
       WHERE device_id = ? AND instance = ? AND source = ? ORDER BY seq DESC LIMIT 1`,
    );
    this.insert = db.prepare(
      `INSERT INTO device_history (device_id, instance, at_ms, hub_id, source, boot_count, reset_reason, firmware_version, images)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.trim = db.prepare(
      `DELETE FROM device_history WHERE device_id = @device AND instance = @instance AND seq <= (
         SELECT seq FROM device_history WHERE device_id = @device AND instance = @instance ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
    );
  }

  /** A boot request the IH answered (granted or withheld); returns the rows written (0 or 1). */
  boot(b: BootRecord): number {
    return this.report(bootReport(b));
  }

  /** A ticket request's runtime information (valid requests only); returns the rows written (0 or 1). */
  activity(a: ActivityEffect): number {
    const r = activityReport(a);
    return r === undefined ? 0 : this.report(r);
  }

  /** Trims each (device, instance) that got rows to its newest `keep`; returns the rows deleted. */
  trimTouched(): number {
    let deleted = 0;
    for (const [device, instance] of this.touched.values()) deleted += this.trim.run({ device, instance, keep: this.keep }).changes;
    this.touched.clear();
    return deleted;
  }

  /** The transaction ended: committed reports are remembered; a rollback forgets them. */
  settled(committed: boolean): void {
    this.memory.settled(committed);
    this.touched.clear();
  }

  private report(r: HistoryReport): number {
    if (this.memory.last(r.key) === r.signature) return 0;
    this.memory.stage(r.key, r.signature);
    const stored = this.latest.get(r.deviceId, r.instance, r.source) as HistoryValues | undefined;
    if (stored !== undefined && signatureOf(stored) === r.signature) return 0;
    const v = r.values;
    this.insert.run(r.deviceId, r.instance, r.atMs, this.hubId, r.source, v.boot_count, v.reset_reason, v.firmware_version, v.images);
    this.touched.set(`${r.deviceId}\u0000${r.instance}`, [r.deviceId, r.instance]);
    return 1;
  }
}

/** A device's history, oldest first. Read-only. */
export function readHistory(db: SqliteDatabase, query: HistoryQuery): HistoryEntry[] {
  const rows = db
    .prepare(
      `SELECT * FROM (
         SELECT seq, device_id, instance, at_ms, hub_id, source, boot_count, reset_reason, firmware_version, images
         FROM device_history WHERE device_id = ? ORDER BY at_ms DESC, seq DESC LIMIT ?
       ) ORDER BY at_ms, seq`,
    )
    .all(query.deviceId, query.limit ?? -1) as HistoryRow[];
  return rows.map(historyEntryOf);
}
