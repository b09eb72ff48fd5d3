/**
 * One hub process, whole: its SQLite store, the decision core on it, the MQTT server that commits
 * each batch before answering, and the deadline sweep. `dominion hub` and `dominion up` both run
 * this; a test or benchmark can too.
 *
 * The database is opened (and checked) before the broker is contacted, so a missing or corrupt
 * database stops the start-up with a clear error instead of failing on the first request.
 *
 * Readiness (docs/ARCHITECTURE.md §7): while it runs, the database's integrity is checked on a
 * schedule, and at once when a decision failed on the store (`internal-error`) or a commit failed;
 * a failed check, or commits (of batches, or of activity written behind) failing `commitFailureLimit`
 * times in a row, makes the hub not ready:
 * it stops answering, says why in its retained status, and emits `notReady` (the CLI then exits
 * non-zero). A hub is never "online" while refusing everything.
 */
import { workerServerOptions, type WorkerServerOptions } from './worker-server.ts';
import type { Signer } from '../crypto/index.ts';
import { HubCore } from './hub-core.ts';
import { HubServer, type HubServerStats } from './hub-server.ts';
import type { HubRole } from './role.ts';
import { checkDatabaseFile, pruneAudit, SqliteHubStore, type IntegrityReport, type SweepResult } from './sqlite/index.ts';
import type { HubStatus } from './status.ts';
import type { HubCounterSnapshot } from './counters.ts';
import type { JournalStats } from './sqlite/index.ts';
import { brokerCredentialHash, setHubBrokerCredential } from './sqlite/index.ts';
import { hashPassword, verifyPassword } from '../broker-auth/index.ts';
import { silentLogger, type Logger } from '../log/index.ts';
import { AuditPruner, type SweepStats } from './audit-pruner.ts';

/**
 * A hub's options: its brokers, batching and clock (worker-server.ts; its `credential`'s hash is
 * stored in the database when the stored one does not match, so `dominion broker-sync` admits it),
 * and its database.
 */
export interface SqliteHubOptions extends WorkerServerOptions {
  readonly role: HubRole;
  readonly hubId: string;
  readonly dbPath: string;
  /** The hub's signing key (K_IH or K_SH_k). */
  readonly signer: Signer;
  /** Create the database when missing. Default false (a missing database is an error). */
  readonly init?: boolean;
  readonly synchronous?: 'normal' | 'full';
  readonly replayWindowMs?: number;
  /** How often deadlines are swept (TIMEOUT/FAIL) and old nonces pruned. Default 1000 ms. */
  readonly sweepIntervalMs?: number;
  /** How often the database's integrity is checked while the hub runs (quick_check). Default 600 000 ms; 0: never. */
  readonly integrityCheckIntervalMs?: number;
  /**
   * Days of audit rows to keep (docs/ARCHITECTURE.md §7.2): older rows are pruned, one small batch
   * per sweep while any are left, checked once a minute otherwise. Default: keep forever.
   */
  readonly auditKeepDays?: number;
  /**
   * Enrolled keys kept prepared in memory (two generations of this many; default 50,000). Size it to
   * the instances this hub answers (IH: 2 per device) or every request rebuilds its key; ≈ 1.3 KB each.
   */
  readonly keyCacheSize?: number;
  /**
   * Commits failing this many times in a row make the hub not ready. Default 3. Flushes of activity
   * written behind count apart: with the default flush every 5 s, 15 s of failures.
   */
  readonly commitFailureLimit?: number;
  /**
   * Activity written behind (sqlite/activity-buffer.ts): held up to this long, then written many
   * devices per page. Default 0: written with each batch.
   */
  readonly activityFlushMs?: number;
  /** Where the background work (sweeps, integrity checks, pruning) says what went wrong; default nowhere. */
  readonly log?: Logger;
}

/** At most one integrity check per minute is triggered by failures (the scheduled ones come on top). */
const TRIGGERED_CHECK_SPACING_MS = 60_000;

export interface SqliteHubStats {
  readonly server: HubServerStats;
  readonly decisions: HubCounterSnapshot;
  readonly journal: JournalStats;
  /** Activity written behind: flushes, rows, failed flushes, instances held now. */
  readonly activity: { readonly flushes: number; readonly rows: number; readonly failures: number; readonly held: number };
  readonly sweeps: SweepStats;
  /** Integrity checks run while serving, and the ones that could not run (busy, I/O). */
  readonly integrity: { readonly checks: number; readonly errors: number; readonly lastMs: number | undefined };
}

export class SqliteHub {
  readonly store: SqliteHubStore;
  readonly core: HubCore;
  readonly server: HubServer;
  private readonly timer: NodeJS.Timeout;
  private readonly flushTimer: NodeJS.Timeout | undefined;
  private readonly checkTimer: NodeJS.Timeout | undefined;
  private readonly clock: () => number;
  private readonly sweeps = { runs: 0, timeouts: 0, fails: 0, failures: 0 };
  private readonly pruner: AuditPruner;
  private readonly integrity = { checks: 0, errors: 0, lastMs: undefined as number | undefined };
  private lastTriggeredCheckMs = -Infinity;
  private readonly notReadyListeners = new Set<(problem: string) => void>();
  private problem: string | undefined;
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly commitFailureLimit: number;

  static async start(options: SqliteHubOptions): Promise<SqliteHub> {
    const store = SqliteHubStore.open({
      path: options.dbPath,
      create: options.init ?? false,
      integrityCheck: true,
      identity: { hubId: options.hubId, role: options.role },
      ...(options.synchronous !== undefined ? { synchronous: options.synchronous } : {}),
      ...(options.replayWindowMs !== undefined ? { replayWindowMs: options.replayWindowMs } : {}),
      ...(options.keyCacheSize !== undefined ? { verifierCacheSize: options.keyCacheSize } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.activityFlushMs !== undefined ? { activityFlushMs: options.activityFlushMs } : {}),
    });
    try {
      const c = options.credential;
      if (c !== undefined && !verifyPassword(c.password, brokerCredentialHash(store.db, c.username) ?? ''))
        setHubBrokerCredential(store.db, options.hubId, hashPassword(c.password));
      const core = new HubCore({ role: options.role, signer: options.signer, store });
      const server = await HubServer.start(workerServerOptions(options, core));
      return new SqliteHub(store, core, server, options);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  private constructor(store: SqliteHubStore, core: HubCore, server: HubServer, options: SqliteHubOptions) {
    this.store = store;
    this.core = core;
    this.server = server;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? silentLogger;
    this.pruner = new AuditPruner(options.auditKeepDays, store.replayWindowMs, this.log);
    this.timer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1000);
    this.timer.unref();
    const flushMs = store.journal.activity.flushMs;
    this.flushTimer = flushMs > 0 ? setInterval(() => this.flushActivity(), flushMs) : undefined;
    this.flushTimer?.unref();
    const every = options.integrityCheckIntervalMs ?? 600_000;
    this.checkTimer = every > 0 ? setInterval(() => this.checkIntegrity(), every) : undefined;
    this.checkTimer?.unref();
    const limit = (this.commitFailureLimit = Math.max(1, options.commitFailureLimit ?? 3));
    server.on('commitFailure', (err, inRow) => {
      if (inRow >= limit) this.declareNotReady(`${inRow} commits in a row failed (${err instanceof Error ? err.message : String(err)})`);
      else this.triggeredCheck();
    });
    server.on('decision', (d) => {
      if (d.outcome === 'refused' && d.reason === 'internal-error') this.triggeredCheck();
    });
  }

  /**
   * Checks the database file's integrity now (quick_check on a connection of its own). A damaged
   * database makes the hub not ready. Runs on this thread: it holds up answering for as long as it
   * reads the file (bench/RESULTS.md). Never throws; a check that cannot run is counted.
   */
  checkIntegrity(): IntegrityReport | undefined {
    if (this.stopping !== undefined || this.problem !== undefined) return undefined;
    const t0 = performance.now();
    let report: IntegrityReport;
    try {
      report = checkDatabaseFile(this.store.path, 'quick');
    } catch (err) {
      // Busy or unreadable right now: the next check tries again; commit failures are watched apart.
      this.integrity.errors++;
      this.log.limited('integrity-check', 'warn', 'the integrity check could not run; trying again later', { error: message(err) });
      return undefined;
    }
    this.integrity.checks++;
    this.integrity.lastMs = performance.now() - t0;
    if (!report.ok)
      this.declareNotReady(
        `database ${this.store.path} failed its integrity check: ${report.problems.slice(0, 3).join('; ')}; restore it from a backup`,
      );
    return report;
  }

  /** Called with the problem when the hub stops being ready (once). */
  onNotReady(listener: (problem: string) => void): () => void {
    this.notReadyListeners.add(listener);
    return () => void this.notReadyListeners.delete(listener);
  }

  /** Why the hub is not ready, if it is not. */
  get notReadyProblem(): string | undefined {
    return this.problem;
  }

  private triggeredCheck(): void {
    const now = this.clock();
    if (now - this.lastTriggeredCheckMs < TRIGGERED_CHECK_SPACING_MS) return;
    this.lastTriggeredCheckMs = now;
    // Not inside the server's flush: after this turn.
    setImmediate(() => this.checkIntegrity());
  }

  private declareNotReady(problem: string): void {
    if (this.problem !== undefined) return;
    this.problem = problem;
    void this.server.notReady(problem);
    for (const listener of this.notReadyListeners) {
      try {
        listener(problem);
      } catch {
        // a listener's bug must not hide the problem from the others
      }
    }
  }

  /** Records passed deadlines now (the timer does this every sweep interval). Never throws. */
  sweep(): SweepResult {
    try {
      const r = this.store.sweep(this.clock());
      this.sweeps.runs++;
      this.sweeps.timeouts += r.timeouts;
      this.sweeps.fails += r.fails;
      this.pruneStep();
      return r;
    } catch (err) {
      // Busy database or disk trouble: the next sweep tries again; nothing is lost by waiting.
      this.sweeps.failures++;
      this.log.limited('sweep', 'warn', 'the deadline sweep failed; trying again at the next one', { error: message(err) });
      return { timeouts: 0, fails: 0 };
    }
  }

  /**
   * Writes the activity held in memory now (the timer does this every flush interval). Never throws.
   * A failure keeps the writes held for the next flush; `commitFailureLimit` failures in a row make
   * the hub not ready: it could still answer, but the registry would fall ever further behind its
   * answers (the dashboard, the deadline sweep), and the next start folds them back from the audit.
   */
  flushActivity(): void {
    try {
      this.store.flushActivity();
    } catch (err) {
      const inRow = this.store.journal.activity.failuresInRow;
      if (inRow >= this.commitFailureLimit) {
        this.declareNotReady(`writing held activity failed ${inRow} times in a row (${message(err)})`);
        return;
      }
      // Busy database or disk trouble: the writes stay held, the next flush tries again.
      this.log.limited('activity', 'warn', 'writing held activity failed; trying again at the next flush', { error: message(err) });
      this.triggeredCheck();
    }
  }

  /** One batch of audit pruning when due: a short write, so answering never waits long. */
  private pruneStep(): void {
    const due = this.pruner.due(this.clock());
    if (due === undefined) return;
    try {
      this.pruner.done(pruneAudit(this.store.db, due));
    } catch (err) {
      this.pruner.failed(err);
    }
  }

  status(): HubStatus {
    return this.server.status();
  }

  stats(): SqliteHubStats {
    return {
      server: this.server.stats(),
      decisions: this.core.counters(),
      journal: this.store.journal.stats(),
      activity: this.store.journal.activity.stats(),
      sweeps: { ...this.sweeps, ...this.pruner.counts },
      integrity: { ...this.integrity },
    };
  }

  /** Answers what is pending, goes offline cleanly and closes the database; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
      if (this.checkTimer !== undefined) clearInterval(this.checkTimer);
      try {
        await this.server.stop();
      } finally {
        this.store.close();
      }
    })();
    return this.stopping;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
