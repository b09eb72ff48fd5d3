/**
 * One hub process, whole: its SQLite store, the decision core on it, the MQTT server that commits
 * each batch before answering, and the deadline sweep. `dominion hub` and `dominion up` both run
 * this; a test or benchmark can too.
 *
 * The database is opened (and checked) before the broker is contacted, so a missing or corrupt
 * database stops the start-up with a clear error instead of failing on the first request.
 */
import type { Signer } from '../crypto/index.ts';
import type { MqttProtocolVersion, MqttTlsOptions } from '../mqtt/index.ts';
import { HubCore } from './hub-core.ts';
import { HubServer, type HubServerStats } from './hub-server.ts';
import type { HubRole } from './role.ts';
import { SqliteHubStore, type SweepResult } from './sqlite/index.ts';
import type { HubStatus } from './status.ts';
import type { HubCounterSnapshot } from './counters.ts';
import type { JournalStats } from './sqlite/index.ts';
import { brokerCredentialHash, setHubBrokerCredential } from './sqlite/index.ts';
import { hashPassword, verifyPassword } from '../broker-auth/index.ts';

export interface SqliteHubOptions {
  readonly role: HubRole;
  readonly hubId: string;
  readonly brokerUrl: string;
  /** For an `mqtts://` broker: the pinned CA. */
  readonly brokerTls?: MqttTlsOptions;
  readonly dbPath: string;
  /** The hub's signing key (K_IH or K_SH_k). */
  readonly signer: Signer;
  /** Create the database when missing. Default false (a missing database is an error). */
  readonly init?: boolean;
  readonly synchronous?: 'normal' | 'full';
  readonly shareGroup?: string | 'auto' | null;
  readonly protocolVersion?: MqttProtocolVersion | 'auto';
  readonly replayWindowMs?: number;
  /** How often deadlines are swept (TIMEOUT/FAIL) and old nonces pruned. Default 1000 ms. */
  readonly sweepIntervalMs?: number;
  readonly maxBatch?: number;
  readonly clock?: () => number;
  readonly reconnectPeriodMs?: number;
  readonly startTimeoutMs?: number;
  /**
   * The hub's broker credential (docs/ARCHITECTURE.md §7.1). Its hash is stored in the database
   * when the stored one does not match, so the next `dominion broker-sync` admits this hub.
   */
  readonly credential?: { readonly username: string; readonly password: string };
}

export interface SqliteHubStats {
  readonly server: HubServerStats;
  readonly decisions: HubCounterSnapshot;
  readonly journal: JournalStats;
  readonly sweeps: { readonly runs: number; readonly timeouts: number; readonly fails: number; readonly failures: number };
}

export class SqliteHub {
  readonly store: SqliteHubStore;
  readonly core: HubCore;
  readonly server: HubServer;
  private readonly timer: NodeJS.Timeout;
  private readonly clock: () => number;
  private readonly sweeps = { runs: 0, timeouts: 0, fails: 0, failures: 0 };
  private stopping: Promise<void> | undefined;

  static async start(options: SqliteHubOptions): Promise<SqliteHub> {
    const store = SqliteHubStore.open({
      path: options.dbPath,
      create: options.init ?? false,
      identity: { hubId: options.hubId, role: options.role },
      ...(options.synchronous !== undefined ? { synchronous: options.synchronous } : {}),
      ...(options.replayWindowMs !== undefined ? { replayWindowMs: options.replayWindowMs } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
    });
    try {
      const c = options.credential;
      if (c !== undefined && !verifyPassword(c.password, brokerCredentialHash(store.db, c.username) ?? ''))
        setHubBrokerCredential(store.db, options.hubId, hashPassword(c.password));
      const core = new HubCore({ role: options.role, signer: options.signer, store });
      const server = await HubServer.start({
        core,
        brokerUrl: options.brokerUrl,
        ...(options.brokerTls !== undefined ? { tls: options.brokerTls } : {}),
        hubId: options.hubId,
        ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
        ...(options.shareGroup !== undefined ? { shareGroup: options.shareGroup } : {}),
        ...(options.protocolVersion !== undefined ? { protocolVersion: options.protocolVersion } : {}),
        ...(options.clock !== undefined ? { clock: options.clock } : {}),
        ...(options.reconnectPeriodMs !== undefined ? { reconnectPeriodMs: options.reconnectPeriodMs } : {}),
        ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
        ...(options.credential !== undefined ? { credential: options.credential } : {}),
      });
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
    this.timer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Records passed deadlines now (the timer does this every sweep interval). Never throws. */
  sweep(): SweepResult {
    try {
      const r = this.store.sweep(this.clock());
      this.sweeps.runs++;
      this.sweeps.timeouts += r.timeouts;
      this.sweeps.fails += r.fails;
      return r;
    } catch {
      // Busy database or disk trouble: the next sweep tries again; nothing is lost by waiting.
      this.sweeps.failures++;
      return { timeouts: 0, fails: 0 };
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
      sweeps: { ...this.sweeps },
    };
  }

  /** Answers what is pending, goes offline cleanly and closes the database; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      try {
        await this.server.stop();
      } finally {
        this.store.close();
      }
    })();
    return this.stopping;
  }
}
