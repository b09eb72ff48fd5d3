/**
 * The hub's write batch. Deciding a request writes two things: an audit row (which also records the
 * answered nonce's reference, for replay detection) and the instance's activity (last request, last
 * ticket, deadline). Committing each request on
 * its own would make the hub's capacity that of fsync-bound single-row transactions; instead the
 * journal collects the writes of many decisions and `commit()` makes them durable in one IMMEDIATE
 * transaction. The server publishes a batch's replies only after `commit()` returns (hub-server.ts),
 * so every reply a device ever received has its audit row, even if the hub is killed a moment later.
 *
 * Activity updates of one instance within a batch are merged (the last decision wins), so a busy
 * device costs one row write per batch, not one per request.
 */
import type { SqliteDatabase } from './database.ts';
import type { AuditEntry } from '../audit.ts';
import type { HubOutcome } from '../hub-core.ts';
import { instanceStateOf } from '../verdict.ts';

interface ActivityWrite {
  deviceId: string;
  instance: string;
  requestAtMs: number | null;
  outcome: string | null;
  reason: string | null;
  state: string | null;
  ticketAtMs: number | null;
  deferralMs: number | null;
}

export interface JournalStats {
  readonly commits: number;
  readonly rowsCommitted: number;
  readonly failures: number;
  /** Tries that found another process holding the write lock (retried later, nothing lost). */
  readonly busy: number;
  /** Largest number of decisions' writes committed in one transaction. */
  readonly largestBatch: number;
}

export class WriteJournal {
  readonly #hubId: string | null;
  #audit: AuditEntry[] = [];
  #activity = new Map<string, ActivityWrite>();
  #stats = { commits: 0, rowsCommitted: 0, failures: 0, busy: 0, largestBatch: 0 };
  readonly #insertAudit;
  readonly #upsertActivity;
  readonly #commitAll: () => number;
  readonly #busyTimeout;
  readonly #setBusyTimeout: (ms: number) => void;

  constructor(db: SqliteDatabase, hubId: string | undefined) {
    this.#hubId = hubId ?? null;
    this.#insertAudit = db.prepare(
      `INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance, deferral_ms, ref)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#upsertActivity = db.prepare(
      `INSERT INTO instance_activity
         (device_id, instance, last_request_at_ms, last_outcome, last_reason, state, last_ticket_at_ms, last_deferral_ms, deadline_ms, expired)
       VALUES (@deviceId, @instance, @requestAtMs, @outcome, @reason, @state, @ticketAtMs, @deferralMs, @deadlineMs, 0)
       ON CONFLICT (device_id, instance) DO UPDATE SET
         last_request_at_ms = coalesce(excluded.last_request_at_ms, last_request_at_ms),
         last_outcome       = coalesce(excluded.last_outcome, last_outcome),
         last_reason        = coalesce(excluded.last_reason, last_reason),
         state              = coalesce(excluded.state, state),
         last_ticket_at_ms  = coalesce(excluded.last_ticket_at_ms, last_ticket_at_ms),
         last_deferral_ms   = coalesce(excluded.last_deferral_ms, last_deferral_ms),
         deadline_ms        = coalesce(excluded.deadline_ms, deadline_ms),
         expired            = CASE WHEN excluded.deadline_ms IS NULL THEN expired ELSE 0 END`,
    );
    this.#commitAll = db.transaction(() => this.#writeAll()).immediate as () => number;
    this.#busyTimeout = db.prepare('PRAGMA busy_timeout').pluck();
    this.#setBusyTimeout = (ms) => void db.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
  }

  /** Decisions' writes waiting for `commit()` (audit rows are one per decision). */
  get pending(): number {
    return this.#audit.length;
  }

  stats(): JournalStats {
    return { ...this.#stats };
  }

  appendAudit(entry: AuditEntry): void {
    this.#audit.push(entry);
  }

  recordRequest(deviceId: string, instance: string, atMs: number, outcome: string, reason: string | undefined): void {
    const w = this.#activityOf(deviceId, instance);
    w.requestAtMs = atMs;
    w.outcome = outcome;
    w.reason = reason ?? null;
    w.state = instanceStateOf(outcome as HubOutcome, reason ?? '') ?? w.state;
  }

  recordTicket(deviceId: string, instance: string, atMs: number, deferralMs: number): void {
    const w = this.#activityOf(deviceId, instance);
    w.ticketAtMs = atMs;
    w.deferralMs = deferralMs;
  }

  /** Activity written in this batch but not yet committed, if any. */
  pendingActivity(deviceId: string, instance: string): Readonly<ActivityWrite> | undefined {
    return this.#activity.get(`${deviceId}\u0000${instance}`);
  }

  /**
   * Writes everything pending in one transaction; returns the number of rows written. On failure
   * the transaction is rolled back, the pending writes are dropped (their replies must not go out)
   * and the error is rethrown.
   */
  commit(): number {
    const result = this.#attempt(false);
    return result === 'busy' ? 0 : result;
  }

  /**
   * As `commit`, but without waiting for another process's write lock: `busy` leaves everything
   * pending for a later try. A hub's event loop must not sleep in SQLite's busy handler while a
   * second hub process on the same database commits; it keeps deciding and tries again shortly.
   */
  tryCommit(): number | 'busy' {
    return this.#attempt(true);
  }

  #attempt(noWait: boolean): number | 'busy' {
    if (this.#audit.length === 0 && this.#activity.size === 0) return 0;
    const decisions = this.#audit.length;
    let timeout: number | undefined;
    if (noWait) {
      timeout = this.#busyTimeout.get() as number;
      this.#setBusyTimeout(0);
    }
    try {
      const rows = this.#commitAll();
      this.#stats.commits++;
      this.#stats.rowsCommitted += rows;
      this.#stats.largestBatch = Math.max(this.#stats.largestBatch, decisions);
      this.#clear();
      return rows;
    } catch (err) {
      if (noWait && isBusy(err)) {
        this.#stats.busy++;
        return 'busy';
      }
      this.#stats.failures++;
      this.#clear();
      throw err;
    } finally {
      if (timeout !== undefined) this.#setBusyTimeout(timeout);
    }
  }

  #clear(): void {
    this.#audit = [];
    this.#activity = new Map();
  }

  #writeAll(): number {
    let rows = 0;
    for (const w of this.#activity.values()) {
      const deadlineMs = w.ticketAtMs !== null && w.deferralMs !== null ? w.ticketAtMs + w.deferralMs : null;
      rows += this.#upsertActivity.run({ ...w, deadlineMs }).changes;
    }
    for (const e of this.#audit) {
      this.#insertAudit.run(e.atMs, this.#hubId, e.outcome, e.reason, e.detail ?? null, e.deviceId ?? null, e.instance ?? null, e.deferralMs ?? null, e.ref ?? null);
      rows++;
    }
    return rows;
  }

  #activityOf(deviceId: string, instance: string): ActivityWrite {
    const key = `${deviceId}\u0000${instance}`;
    let w = this.#activity.get(key);
    if (w === undefined) {
      w = { deviceId, instance, requestAtMs: null, outcome: null, reason: null, state: null, ticketAtMs: null, deferralMs: null };
      this.#activity.set(key, w);
    }
    return w;
  }
}

function isBusy(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_');
}
