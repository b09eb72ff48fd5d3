/**
 * When a running hub prunes its audit log (docs/ARCHITECTURE.md §7.2), for either store: after a
 * sweep, one small batch of rows older than the kept days while any are left, then a look once a
 * minute. The store's prune function runs in between (`due` → prune → `done` or `failed`), so the
 * SQLite hub stays synchronous and the PostgreSQL one awaits its query.
 */
import type { Logger } from '../log/index.ts';
import type { PruneOptions, PruneResult } from './sqlite/retention.ts';

/** A running hub's sweeps (either store): runs, deadlines recorded, failures, and its pruning. */
export interface SweepStats {
  readonly runs: number;
  readonly timeouts: number;
  readonly fails: number;
  readonly failures: number;
  /** Audit rows pruned (auditKeepDays), and prune batches that failed. */
  readonly pruned: number;
  readonly pruneFailures: number;
}

/** How long a hub waits before looking again once nothing was left to prune. */
const IDLE_MS = 60_000;

export class AuditPruner {
  /** Audit rows pruned, and prune batches that failed. */
  readonly counts = { pruned: 0, pruneFailures: 0 };
  /** When the next batch is due (ms on the hub's clock); 0 = at the next sweep. */
  private dueMs = 0;
  private lastNow = 0;

  constructor(
    /** Days of audit rows kept; undefined: never prunes. */
    private readonly keepDays: number | undefined,
    private readonly replayWindowMs: number,
    private readonly log: Logger,
  ) {}

  /** The options of the batch due now, or undefined (pruning off, or not due yet). */
  due(nowMs: number): PruneOptions | undefined {
    if (this.keepDays === undefined || nowMs < this.dueMs) return undefined;
    this.lastNow = nowMs;
    return { keepDays: this.keepDays, nowMs, replayWindowMs: this.replayWindowMs, maxBatches: 1 };
  }

  done(r: PruneResult): void {
    this.counts.pruned += r.deleted;
    this.dueMs = r.more ? 0 : this.lastNow + IDLE_MS;
  }

  /** Busy, disk or connection trouble: the next sweep tries again; nothing is lost by waiting. */
  failed(err: unknown): void {
    this.counts.pruneFailures++;
    this.log.limited('audit-prune', 'warn', 'pruning old audit rows failed; trying again at the next sweep', {
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
