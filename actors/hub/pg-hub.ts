/**
 * One stateless PostgreSQL hub worker (docs/ARCHITECTURE.md §7.4): its `PgHubStore`, the decision
 * core, the MQTT server (which commits each batch asynchronously before answering) and the
 * deadline sweep. Any number of them may serve one hub id from one database.
 *
 * Readiness, unlike SQLite's (sqlite-hub.ts): a lost PostgreSQL server is a problem that passes.
 * Commits failing `commitFailureLimit` times in a row make the worker not ready — it answers
 * nothing (never a reply without a committed decision) and says so in its retained status — and
 * then it probes the server every `probeMs`; once a probe answers it is ready again, by itself.
 */
import { workerServerOptions, type WorkerServerOptions } from './worker-server.ts';
import type { Signer } from '../crypto/index.ts';
import { silentLogger, type Logger } from '../log/index.ts';
import type { HubCounterSnapshot } from './counters.ts';
import { HubCore } from './hub-core.ts';
import { HubServer, type HubServerStats } from './hub-server.ts';
import { pgPruneAudit, PgHubStore, type PgJournalStats } from './postgres/index.ts';
import type { HubRole } from './role.ts';
import type { HubStatus } from './status.ts';
import { AuditPruner, type SweepStats } from './audit-pruner.ts';

/** A worker's options: its brokers, batching and clock (worker-server.ts), and its database. */
export interface PgHubOptions extends WorkerServerOptions {
  readonly role: HubRole;
  readonly hubId: string;
  /** `postgres://user@host:port/database` */
  readonly dbUrl: string;
  /** Schema of the hub's tables (default: the server's search_path). */
  readonly schema?: string;
  readonly signer: Signer;
  /** Create or migrate the schema. Default false: a missing schema is an error. */
  readonly init?: boolean;
  readonly replayWindowMs?: number;
  readonly sweepIntervalMs?: number;
  /**
   * Days of audit rows kept: after its deadline sweep a worker prunes one batch of older rows, each
   * counted in the summary (postgres/retention.ts), at most once a minute once nothing is left.
   * Undefined: never prunes.
   */
  readonly auditKeepDays?: number;
  /** Commits failing this many times in a row make the worker not ready (until PostgreSQL answers again). Default 3. */
  readonly commitFailureLimit?: number;
  /** How often a not-ready worker probes PostgreSQL. Default 1000 ms. */
  readonly probeMs?: number;
  /** Bound on one query (default 10 000 ms). */
  readonly queryTimeoutMs?: number;
  readonly log?: Logger;
}

export interface PgHubStats {
  readonly server: HubServerStats;
  readonly decisions: HubCounterSnapshot;
  readonly journal: PgJournalStats;
  readonly sweeps: SweepStats;
  /** Times the worker became not ready, and ready again. */
  readonly outages: number;
  readonly recoveries: number;
}

export class PgHub {
  readonly store: PgHubStore;
  readonly core: HubCore;
  readonly server: HubServer;
  private readonly sweepTimer: NodeJS.Timeout;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly probeMs: number;
  private readonly sweeps = { runs: 0, timeouts: 0, fails: 0, failures: 0 };
  private readonly pruner: AuditPruner;
  private outages = 0;
  private recoveries = 0;
  private problem: string | undefined;
  private sweeping = false;
  private stopping: Promise<void> | undefined;
  private readonly readinessListeners = new Set<(problem: string | undefined) => void>();

  static async start(options: PgHubOptions): Promise<PgHub> {
    const store = await PgHubStore.open({
      url: options.dbUrl,
      ...(options.schema !== undefined ? { schema: options.schema } : {}),
      init: options.init ?? false,
      identity: { hubId: options.hubId, role: options.role },
      ...(options.replayWindowMs !== undefined ? { replayWindowMs: options.replayWindowMs } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
    });
    try {
      const core = new HubCore({ role: options.role, signer: options.signer, store });
      const server = await HubServer.start(workerServerOptions(options, core));
      return new PgHub(store, core, server, options);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  private constructor(store: PgHubStore, core: HubCore, server: HubServer, options: PgHubOptions) {
    this.store = store;
    this.core = core;
    this.server = server;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? silentLogger;
    this.probeMs = options.probeMs ?? 1000;
    this.pruner = new AuditPruner(options.auditKeepDays, store.replayWindowMs, this.log);
    this.sweepTimer = setInterval(() => void this.sweep(), options.sweepIntervalMs ?? 1000);
    this.sweepTimer.unref();
    const limit = Math.max(1, options.commitFailureLimit ?? 3);
    server.on('commitFailure', (err, inRow) => {
      if (inRow >= limit) this.declareNotReady(`${inRow} commits in a row failed (${message(err)}); retrying ${store.where}`);
    });
  }

  /** Called with the problem when the worker stops being ready, and with undefined when it is ready again. */
  onReadiness(listener: (problem: string | undefined) => void): () => void {
    this.readinessListeners.add(listener);
    return () => void this.readinessListeners.delete(listener);
  }

  get notReadyProblem(): string | undefined {
    return this.problem;
  }

  /** Records passed deadlines now (the timer does this every sweep interval). Never throws. */
  async sweep(): Promise<void> {
    if (this.sweeping || this.problem !== undefined) return;
    this.sweeping = true;
    try {
      const r = await this.store.sweep(this.clock());
      this.sweeps.runs++;
      this.sweeps.timeouts += r.timeouts;
      this.sweeps.fails += r.fails;
    } catch (err) {
      this.sweeps.failures++;
      this.log.limited('sweep', 'warn', 'the deadline sweep failed; trying again at the next one', { error: message(err) });
    }
    try {
      await this.pruneStep();
    } finally {
      this.sweeping = false;
    }
  }

  /** One batch of audit pruning when due: a short transaction of its own (workers may prune at once). */
  private async pruneStep(): Promise<void> {
    const due = this.pruner.due(this.clock());
    if (due === undefined) return;
    try {
      this.pruner.done(await pgPruneAudit(this.store.pool, due));
    } catch (err) {
      this.pruner.failed(err);
    }
  }

  status(): HubStatus {
    return this.server.status();
  }

  stats(): PgHubStats {
    return {
      server: this.server.stats(),
      decisions: this.core.counters(),
      journal: this.store.journal.stats(),
      sweeps: { ...this.sweeps, ...this.pruner.counts },
      outages: this.outages,
      recoveries: this.recoveries,
    };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.sweepTimer);
      if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
      try {
        await this.server.stop();
      } finally {
        await this.store.close();
      }
    })();
    return this.stopping;
  }

  private declareNotReady(problem: string): void {
    if (this.problem !== undefined || this.stopping !== undefined) return;
    this.problem = problem;
    this.outages++;
    this.log.error('not ready: answering nothing until PostgreSQL answers again', { problem });
    void this.server.notReady(problem);
    this.tell(problem);
    this.probe();
  }

  private probe(): void {
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.stopping !== undefined) return;
      void this.store.ping().then(async (up) => {
        if (!up || this.stopping !== undefined) return this.probe();
        this.problem = undefined;
        this.recoveries++;
        await this.server.recovered();
        this.log.info('ready again: PostgreSQL answers');
        this.tell(undefined);
      });
    }, this.probeMs);
    this.probeTimer.unref();
  }

  private tell(problem: string | undefined): void {
    for (const l of this.readinessListeners) {
      try {
        l(problem);
      } catch {
        // a listener's bug must not hide the change from the others
      }
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
