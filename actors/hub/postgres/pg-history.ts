/**
 * The device history on PostgreSQL (migration 3; docs/ARCHITECTURE.md §7.4): the same rows and rule
 * as SQLite's (sqlite/history.ts, history-reports.ts) — one row when a report differs from the
 * previous one of its (device, instance, source), written in the batch's transaction (pg-journal.ts),
 * the newest `keep` kept per (device, instance).
 *
 * A report equal to the one last seen costs nothing. The reports that differ from memory (new to this
 * worker, or a change) are compared with the table's latest rows, read in ONE statement per batch for
 * all their keys, after a transaction-scoped advisory lock per key (taken in hash order): two workers
 * recording the same change at once serialise there, and the second reads the first one's row.
 */
import {
  HISTORY_KEEP,
  historyEntryOf,
  historyKey,
  HistoryMemory,
  reportsOf,
  signatureOf,
  type HistoryEntry,
  type HistoryQuery,
  type HistoryRecorderOptions,
  type HistoryReport,
  type HistoryRow,
  type HistoryValues,
} from '../history-reports.ts';
import type { HubEffects } from '../effects.ts';
import type { PgQueryable } from './connect.ts';

const LOCK_KEYS = `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(concat_ws('/', 'dominion-history', d, i, s), 0) AS h
  FROM unnest($1::text[], $2::text[], $3::text[]) AS k(d, i, s) ORDER BY 1) AS x`;
const LATEST = `SELECT k.d AS device_id, k.i AS instance, k.s AS source, h.boot_count, h.reset_reason, h.firmware_version, h.images
  FROM unnest($1::text[], $2::text[], $3::text[]) AS k(d, i, s)
  CROSS JOIN LATERAL (SELECT boot_count, reset_reason, firmware_version, images FROM device_history
    WHERE device_id = k.d AND instance = k.i AND source = k.s ORDER BY seq DESC LIMIT 1) AS h`;
const INSERT = `INSERT INTO device_history (device_id, instance, at_ms, hub_id, source, boot_count, reset_reason, firmware_version, images)
  SELECT d, i, a, $4, s, b, r, f, im
    FROM unnest($1::text[], $2::text[], $3::bigint[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY
    AS u(d, i, a, s, b, r, f, im, n) ORDER BY n`;
const TRIM = `DELETE FROM device_history h USING unnest($1::text[], $2::text[]) AS t(d, i)
  WHERE h.device_id = t.d AND h.instance = t.i AND h.seq <= (
    SELECT seq FROM device_history x WHERE x.device_id = t.d AND x.instance = t.i ORDER BY seq DESC LIMIT 1 OFFSET $3)`;

export class PgHistoryRecorder {
  private readonly keep: number;
  private readonly memory: HistoryMemory;

  constructor(
    private readonly hubId: string | null,
    options: HistoryRecorderOptions = {},
  ) {
    this.keep = options.keep ?? HISTORY_KEEP;
    this.memory = new HistoryMemory(options.cacheSize);
  }

  /** Whether `record` would need the table for this batch: a report differs from what memory holds. */
  wouldRecord(batch: readonly HubEffects[]): boolean {
    for (const r of reportsOf(batch)) if (this.memory.last(r.key) !== r.signature) return true;
    return false;
  }

  /**
   * Records the batch's reports inside the open transaction `c` and trims what got rows; returns the
   * rows written. Call `settled` when the transaction ends.
   */
  async record(c: PgQueryable, batch: readonly HubEffects[]): Promise<number> {
    const reports = [...reportsOf(batch)];
    // The keys with a report here that differs from memory: only those can need a row.
    const check = new Map<string, HistoryReport>();
    for (const r of reports) if (!check.has(r.key) && this.memory.last(r.key) !== r.signature) check.set(r.key, r);
    if (check.size === 0) return 0;
    const keys = [...check.keys()];
    const asked = [...check.values()];
    const columns = [asked.map((r) => r.deviceId), asked.map((r) => r.instance), asked.map((r) => r.source)];
    await c.query(LOCK_KEYS, columns);
    const latest = await c.query<HistoryValues & { device_id: string; instance: string; source: string }>(LATEST, columns);
    // Each checked key's reports, in order, are compared with the table's latest row (or none), then with each other.
    const previous = new Map<string, string | undefined>(keys.map((k) => [k, undefined]));
    for (const row of latest.rows) previous.set(historyKey(row.device_id, row.instance, row.source), signatureOf(row));
    const rows: HistoryReport[] = [];
    for (const r of reports) {
      if (!previous.has(r.key)) continue;
      this.memory.stage(r.key, r.signature);
      if (previous.get(r.key) === r.signature) continue;
      previous.set(r.key, r.signature);
      rows.push(r);
    }
    if (rows.length === 0) return 0;
    await this.insert(c, rows);
    const touched = new Map(rows.map((r) => [`${r.deviceId}\u0000${r.instance}`, r] as const));
    await c.query(TRIM, [[...touched.values()].map((r) => r.deviceId), [...touched.values()].map((r) => r.instance), this.keep]);
    return rows.length;
  }

  /** The transaction ended: committed reports are remembered; a rollback forgets them. */
  settled(committed: boolean): void {
    this.memory.settled(committed);
  }

  private async insert(c: PgQueryable, rows: readonly HistoryReport[]): Promise<void> {
    await c.query(INSERT, [
      rows.map((r) => r.deviceId),
      rows.map((r) => r.instance),
      rows.map((r) => r.atMs),
      this.hubId,
      rows.map((r) => r.source),
      rows.map((r) => r.values.boot_count),
      rows.map((r) => r.values.reset_reason),
      rows.map((r) => r.values.firmware_version),
      rows.map((r) => r.values.images),
    ]);
  }
}

/** A device's history, oldest first (as sqlite/history.ts's readHistory). Read-only. */
export async function pgReadHistory(db: PgQueryable, query: HistoryQuery): Promise<HistoryEntry[]> {
  const r = await db.query<HistoryRow>(
    `SELECT * FROM (
       SELECT seq, device_id, instance, at_ms, hub_id, source, boot_count, reset_reason, firmware_version, images
       FROM device_history WHERE device_id = $1 ORDER BY at_ms DESC, seq DESC LIMIT $2
     ) AS h ORDER BY at_ms, seq`,
    [query.deviceId, query.limit ?? null],
  );
  return r.rows.map(historyEntryOf);
}
