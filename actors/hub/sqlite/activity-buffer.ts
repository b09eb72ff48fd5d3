/**
 * What each instance last asked and was given (`instance_activity`), written behind the answers
 * (docs/ARCHITECTURE.md §7, "Activity written behind").
 *
 * Why: at a large fleet every request belongs to another device, so writing its activity in the
 * batch's transaction dirties one random table page (and one of the deadline index) per request —
 * at 100,000 devices that cost a hub as much CPU as its Ed25519 verify (bench/RESULTS.md). Kept in
 * memory for a few seconds and then written in key order in one transaction, the writes of many
 * devices share pages (34 µs → 9 µs per row, measured with 25,000 rows per flush).
 *
 * Why it is safe:
 * - the audit row of every answer is still committed before the reply goes out (journal.ts); the
 *   activity is derived from decisions the audit already holds;
 * - a row is only ever moved forward: each write applies its request's fields only when its request
 *   is at least as new as the stored one, and its ticket's fields only when its ticket is (several
 *   processes flushing in any order, or the start-up fold, never move a row back);
 * - the stored deadline can only be older than the true one, never newer: the deadline sweep waits
 *   out one flush interval (`sweepLagMs`) before it records a deadline as passed, so it never sees a
 *   deadline another live process has already pushed back in its buffer;
 * - a process killed with writes in its buffer loses only those: at the next start the store folds
 *   the answered decisions of the audit's replay window back into the table (`foldAudit`).
 *
 * With `flushMs` 0 the buffer is a pass-through: each batch's activity is written in its own
 * transaction (the default of `SqliteHubStore`, for tests and tools that read the table at once).
 */
import { laterWrite, type ActivityWrite } from '../activity-writes.ts';
import { instanceStateOf, type DecisionReason, type HubOutcome } from '../reasons.ts';
import type { SqliteDatabase } from './database.ts';
import { ANSWERED_OUTCOMES } from './replay-log.ts';

export interface ActivityBufferOptions {
  /** How long a write may wait in memory. 0: none (written in the batch's transaction). */
  readonly flushMs: number;
  /** Most instances held before a flush is forced. Default 50,000. */
  readonly maxHeld?: number;
}

export class ActivityBuffer {
  readonly flushMs: number;
  private readonly maxHeld: number;
  private held = new Map<string, ActivityWrite>();
  private readonly upsert;
  private readonly writeAll: (writes: readonly ActivityWrite[]) => void;
  private readonly counts = { flushes: 0, rows: 0, failures: 0 };
  private failuresInRow_ = 0;

  constructor(db: SqliteDatabase, options: ActivityBufferOptions) {
    this.flushMs = Math.max(0, Math.floor(options.flushMs));
    this.maxHeld = Math.max(1, options.maxHeld ?? 50_000);
    // Forward only: the request's fields from a request at least as new as the stored one, the
    // ticket's (and the deadline's, which follows it) from a ticket at least as new.
    this.upsert = db.prepare(
      `INSERT INTO instance_activity
         (device_id, instance, last_request_at_ms, last_outcome, last_reason, state, last_ticket_at_ms, last_deferral_ms, deadline_ms, expired,
          slots, recovery)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
       ON CONFLICT (device_id, instance) DO UPDATE SET
         slots              = CASE WHEN {REQ} THEN coalesce(excluded.slots, slots) ELSE slots END,
         recovery           = CASE WHEN {REQ} THEN coalesce(excluded.recovery, recovery) ELSE recovery END,
         last_outcome       = CASE WHEN {REQ} THEN coalesce(excluded.last_outcome, last_outcome) ELSE last_outcome END,
         last_reason        = CASE WHEN {REQ} THEN coalesce(excluded.last_reason, last_reason) ELSE last_reason END,
         state              = CASE WHEN {REQ} THEN coalesce(excluded.state, state) ELSE state END,
         last_request_at_ms = CASE WHEN {REQ} THEN coalesce(excluded.last_request_at_ms, last_request_at_ms) ELSE last_request_at_ms END,
         last_deferral_ms   = CASE WHEN {TKT} THEN excluded.last_deferral_ms ELSE last_deferral_ms END,
         deadline_ms        = CASE WHEN {TKT} THEN excluded.deadline_ms ELSE deadline_ms END,
         expired            = CASE WHEN {TKT} THEN 0 ELSE expired END,
         last_ticket_at_ms  = CASE WHEN {TKT} THEN excluded.last_ticket_at_ms ELSE last_ticket_at_ms END`
        .replaceAll('{REQ}', '(excluded.last_request_at_ms IS NULL OR excluded.last_request_at_ms >= coalesce(last_request_at_ms, 0))')
        .replaceAll('{TKT}', '(excluded.last_ticket_at_ms IS NOT NULL AND excluded.last_ticket_at_ms >= coalesce(last_ticket_at_ms, 0))'),
    );
    this.writeAll = db.transaction((writes: readonly ActivityWrite[]) => {
      for (const w of writes) this.write(w);
    }).immediate as (writes: readonly ActivityWrite[]) => void;
  }

  /** Instances whose activity waits in memory. */
  get size(): number {
    return this.held.size;
  }

  /** Flushes that failed since the last one that succeeded (the owner's readiness watches it). */
  get failuresInRow(): number {
    return this.failuresInRow_;
  }

  /** Flushes, rows they wrote, flushes that failed (their writes stayed held), instances held now. */
  stats(): { readonly flushes: number; readonly rows: number; readonly failures: number; readonly held: number } {
    return { ...this.counts, held: this.held.size };
  }

  /**
   * Writes one batch's merged activity (mergeActivity: one per instance, in key order) inside the
   * caller's transaction. Only with `flushMs` 0; otherwise `hold` them once the batch committed.
   */
  write(w: ActivityWrite): number {
    const deadlineMs = w.ticketAtMs !== null && w.deferralMs !== null ? w.ticketAtMs + w.deferralMs : null;
    const recovery = w.recovery === null ? null : w.recovery ? 1 : 0; // SQLite has no booleans
    return this.upsert.run(
      w.deviceId,
      w.instance,
      w.requestAtMs,
      w.outcome,
      w.reason,
      w.state,
      w.ticketAtMs,
      w.deferralMs,
      deadlineMs,
      w.slots,
      recovery,
    ).changes;
  }

  /**
   * A committed batch's activity: held until the next flush (forced once `maxHeld` instances wait,
   * unless the last flush failed: then the owner's timer retries, not every batch). What is held is
   * bounded by the instances the hub answers: one merged write each.
   */
  hold(writes: readonly ActivityWrite[]): void {
    for (const w of writes) {
      const key = `${w.deviceId}\u0000${w.instance}`;
      const before = this.held.get(key);
      this.held.set(key, before === undefined ? w : laterWrite(before, w));
    }
    if (this.held.size < this.maxHeld || this.failuresInRow_ > 0) return;
    try {
      this.flush();
    } catch {
      // Counted; the writes stay held and the next flush tries again. The batch itself committed.
    }
  }

  /**
   * Writes what is held in one transaction, in key order; returns the rows written. On failure
   * (busy past the timeout, I/O) the writes stay held for the next try, and the error is thrown.
   */
  flush(): number {
    if (this.held.size === 0) return 0;
    const writes = [...this.held.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, w]) => w);
    const taken = this.held;
    this.held = new Map();
    try {
      this.writeAll(writes);
    } catch (err) {
      this.counts.failures++;
      this.failuresInRow_++;
      for (const [key, w] of taken) {
        const newer = this.held.get(key);
        this.held.set(key, newer === undefined ? w : laterWrite(w, newer));
      }
      throw err;
    }
    this.failuresInRow_ = 0;
    this.counts.flushes++;
    this.counts.rows += writes.length;
    return writes.length;
  }

  /**
   * Folds the answered decisions the audit recorded since `sinceMs` into the table (forward only, so
   * rows already newer stay): what a process killed with writes in its buffer had not written.
   * Returns the instances written.
   */
  foldAudit(db: SqliteDatabase, sinceMs: number): number {
    const rows = db
      .prepare(
        `SELECT at_ms, outcome, reason, device_id, instance, deferral_ms FROM audit
         WHERE at_ms >= ? AND device_id IS NOT NULL AND instance IS NOT NULL ORDER BY seq`,
      )
      .iterate(sinceMs) as IterableIterator<AuditActivityRow>;
    const folded = new Map<string, ActivityWrite>();
    for (const r of rows) {
      if (!ANSWERED_OUTCOMES.has(r.outcome)) continue;
      const key = `${r.device_id}\u0000${r.instance}`;
      const ticket = r.outcome === 'ticket' && r.deferral_ms !== null;
      const w: ActivityWrite = {
        deviceId: r.device_id,
        instance: r.instance,
        requestAtMs: r.at_ms,
        outcome: r.outcome,
        reason: r.reason,
        state: instanceStateOf(r.outcome as HubOutcome, r.reason as DecisionReason) ?? null,
        ticketAtMs: ticket ? r.at_ms : null,
        deferralMs: ticket ? r.deferral_ms : null,
        slots: null,
        recovery: null,
      };
      const before = folded.get(key);
      folded.set(key, before === undefined ? w : laterWrite(before, w));
    }
    const writes = [...folded.values()];
    this.writeAll(writes);
    return writes.length;
  }
}

interface AuditActivityRow {
  at_ms: number;
  outcome: string;
  reason: string;
  device_id: string;
  instance: string;
  deferral_ms: number | null;
}
