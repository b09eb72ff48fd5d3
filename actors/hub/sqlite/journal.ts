/**
 * The hub's batch writer. A decision's effects (effects.ts) are an audit row (which also records
 * the answered nonce's reference, for replay detection) and, when answered, the instance's activity
 * (last request, last ticket, deadline). Committing each request on its own would make the hub's
 * capacity that of fsync-bound single-row transactions; instead the server hands over the effects
 * of many decisions and `commit(batch)` makes them durable in one IMMEDIATE transaction. The server
 * publishes a batch's replies only after that returns (hub-server.ts), so every reply a device ever
 * received has its audit row, even if the hub is killed a moment later.
 *
 * Activity updates of one instance within a batch are merged (the last decision wins), so a busy
 * device costs one row write per batch, not one per request. A hub process holds them instead and
 * writes them behind, a few seconds later, many devices per page (activity-buffer.ts).
 *
 * An `ActivityObserver` sees every activity of the batch inside its transaction, for writes derived
 * from what the devices reported (the staged rollouts' rollback counts, sqlite/rollouts.ts): they
 * commit, or fail, with the reports they come from. So do the device history (history.ts: a row per
 * reported boot or change, not per request) and the refused-request counts (refusals.ts).
 */
import { mergeActivity, type ActivityWrite } from '../activity-writes.ts';
import { ActivityBuffer } from './activity-buffer.ts';
import type { SqliteDatabase } from './database.ts';
import type { AuditEntry } from '../audit.ts';
import { writesNothing, type ActivityEffect, type HubEffects } from '../effects.ts';
import { HistoryRecorder, type HistoryRecorderOptions } from './history.ts';
import { RefusalCounter } from './refusals.ts';

/** Writes derived from stored activity, made in the batch's transaction. */
export interface ActivityObserver {
  /** Called for each activity of a batch, inside its transaction; may write. */
  observe(activity: ActivityEffect): void;
  /** The transaction ended: committed, or rolled back (nothing it wrote remains). */
  settled(committed: boolean): void;
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
  private readonly hubId: string | null;
  private readonly counts = { commits: 0, rowsCommitted: 0, failures: 0, busy: 0, largestBatch: 0 };
  private readonly insertAudit;
  private readonly upsertBoot;
  private readonly history: HistoryRecorder;
  private readonly refusals: RefusalCounter;
  private readonly writeAll: (batch: readonly HubEffects[]) => number;
  private readonly busyTimeout;
  private readonly setBusyTimeout: (ms: number) => void;

  /** Activity of the batch being written, held once it committed (write-behind only). */
  private toHold: ActivityWrite[] = [];

  constructor(
    db: SqliteDatabase,
    hubId: string | undefined,
    private readonly observer?: ActivityObserver,
    history: HistoryRecorderOptions = {},
    /** Where activity goes: written in the batch's transaction (flushMs 0), or held and written behind. */
    readonly activity: ActivityBuffer = new ActivityBuffer(db, { flushMs: 0 }),
  ) {
    this.hubId = hubId ?? null;
    this.history = new HistoryRecorder(db, this.hubId, history);
    this.refusals = new RefusalCounter(db);
    this.insertAudit = db.prepare(
      `INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance, deferral_ms, ref)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertBoot = db.prepare(
      `INSERT OR REPLACE INTO device_boot (device_id, at_ms, boot_count, firmware_version, manifest_digest, images, outcome, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.writeAll = db.transaction((batch: readonly HubEffects[]) => this.write(batch)).immediate as (
      batch: readonly HubEffects[],
    ) => number;
    this.busyTimeout = db.prepare('PRAGMA busy_timeout').pluck();
    // Prepared once per value: db.pragma() would prepare its statement again on every commit (two per
    // commit; 2 % of a hub's busy time at small batches, measured), and the values are few.
    const setters = new Map<number, { run(): unknown }>();
    this.setBusyTimeout = (ms) => {
      const value = Math.max(0, Math.floor(ms));
      let set = setters.get(value);
      if (set === undefined) {
        set = db.prepare(`PRAGMA busy_timeout = ${value}`);
        if (setters.size < 8) setters.set(value, set);
      }
      set.run();
    };
  }

  stats(): JournalStats {
    return { ...this.counts };
  }

  /**
   * Writes a batch in one transaction; returns the number of rows written. On failure the
   * transaction is rolled back and the error is rethrown (the batch's replies must not go out).
   */
  commit(batch: readonly HubEffects[]): number {
    const result = this.attempt(batch, false);
    return result === 'busy' ? 0 : result;
  }

  /**
   * As `commit`, but without waiting for another process's write lock: `busy` = nothing written,
   * try the same batch again later. A hub's event loop must not sleep in SQLite's busy handler while a
   * second hub process on the same database commits; it keeps deciding and tries again shortly.
   */
  tryCommit(batch: readonly HubEffects[]): number | 'busy' {
    return this.attempt(batch, true);
  }

  private attempt(batch: readonly HubEffects[], noWait: boolean): number | 'busy' {
    // Plain image chunks write nothing: no transaction, no write lock taken from other processes.
    if (batch.length === 0 || writesNothing(batch)) return 0;
    let timeout: number | undefined;
    if (noWait) {
      timeout = this.busyTimeout.get() as number;
      this.setBusyTimeout(0);
    }
    try {
      let rows: number;
      this.toHold = [];
      try {
        rows = this.writeAll(batch);
      } catch (err) {
        this.observer?.settled(false);
        this.history.settled(false);
        throw err;
      }
      this.observer?.settled(true);
      this.history.settled(true);
      if (this.toHold.length > 0) this.activity.hold(this.toHold);
      this.counts.commits++;
      this.counts.rowsCommitted += rows;
      this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
      return rows;
    } catch (err) {
      if (noWait && isBusy(err)) {
        this.counts.busy++;
        return 'busy';
      }
      this.counts.failures++;
      throw err;
    } finally {
      if (timeout !== undefined) this.setBusyTimeout(timeout);
    }
  }

  private write(batch: readonly HubEffects[]): number {
    let rows = 0;
    const activity = mergeActivity(batch);
    if (this.activity.flushMs > 0) this.toHold = activity;
    else for (const w of activity) rows += this.activity.write(w);
    for (const { boot: b } of batch) {
      if (b === undefined) continue;
      this.upsertBoot.run(
        b.deviceId,
        b.atMs,
        b.bootCount ?? null,
        b.firmwareVersion,
        b.manifestDigest,
        JSON.stringify(b.images),
        b.outcome,
        b.reason,
      );
      rows++;
    }
    for (const { audit: e } of batch) {
      if (e === undefined) continue;
      this.insertAudit.run(
        e.atMs,
        this.hubId,
        e.outcome,
        e.reason,
        e.detail ?? null,
        e.deviceId ?? null,
        e.instance ?? null,
        e.deferralMs ?? null,
        e.ref ?? null,
      );
      rows++;
    }
    // What the devices reported of their boots, in the order they reported it; then the bound.
    for (const { boot, activity } of batch) {
      if (boot !== undefined) rows += this.history.boot(boot);
      if (activity !== undefined) rows += this.history.activity(activity);
    }
    this.history.trimTouched();
    rows += this.refusals.count(auditOf(batch));
    // After the batch's own rows, so a rollout's audit rows follow the decision that carried the report.
    if (this.observer !== undefined) for (const { activity } of batch) if (activity !== undefined) this.observer.observe(activity);
    return rows;
  }
}

function* auditOf(batch: readonly HubEffects[]): Iterable<AuditEntry> {
  for (const { audit } of batch) if (audit !== undefined) yield audit;
}

function isBusy(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_');
}
