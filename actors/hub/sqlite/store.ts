/**
 * A hub's state in SQLite (docs/ARCHITECTURE.md §7), as a `HubStore` (effects.ts): the read-only
 * view a decision needs (keys, device state, policy, answered nonces) and the batch commit of
 * decisions' effects (journal.ts), all on one database; plus the registry and policy operators and
 * tests use.
 *
 * Device state, keys, holds and policy are read through a cache that is checked before every
 * request and emptied when an operator changed anything, in this process or another (see
 * config-cache.ts), so a `dominion quarantine` applies at the device's next request while a request
 * costs no SQL beyond the replay check. Staged rollouts (rollouts.ts) are read through the same
 * cache: one rollout row per instance, never a row per device. Content-keyed caches never go stale:
 * the prepared Verifier per public key (§3: building one costs a fifth of a verify) and the parsed policy
 * per document text.
 */
import { cryptoBackend, type CryptoBackend, type Verifier } from '../../crypto/index.ts';
import { isInstance, type Instance } from '../../../proto/index.ts';
import type { AuditEntry, AuditLog } from '../audit.ts';
import { CachedPolicy } from '../cached-policy.ts';
import { writesNothing, type AnsweredNonce, type HubEffects, type HubStore, type HubView } from '../effects.ts';
import type { HubPolicy, UpdateTarget } from '../policy.ts';
import type { DeviceState, EnrolledDevice, EnrolledKey, HubRegistry, InstanceActivity } from '../registry.ts';
import { parseDecisionReason } from '../reasons.ts';
import {
  changeDeviceState,
  claimHubIdentity,
  clearInstanceUpdate,
  enrollKeys,
  readHubIdentity,
  requireInstanceUpdate,
  resumeInstance,
  withholdInstance,
  type HubIdentity,
} from './admin.ts';
import { Bounded, ConfigCache, type KeyRow } from './config-cache.ts';
import { openHubDatabase, type OpenHubDatabaseOptions, type SqliteDatabase } from './database.ts';
import { ActivityBuffer } from './activity-buffer.ts';
import { WriteJournal } from './journal.ts';
import { SqliteReleases } from './releases.ts';
import { ReplayLog } from './replay-log.ts';
import { RolloutCounter } from './rollouts.ts';
import { sweepDeadlines, type SweepResult } from './sweep.ts';

export interface SqliteHubStoreOptions extends OpenHubDatabaseOptions {
  readonly path: string;
  /** Binds the database to this hub (first open) or checks it is this hub's (later opens). */
  readonly identity?: HubIdentity;
  /** Verifiers for enrolled keys; default the node backend (§3). */
  readonly backend?: CryptoBackend;
  /** The hub's clock, for loading the replay window at start (default Date.now). */
  readonly clock?: () => number;
  /** How long answered nonces are kept for replay detection. Default 10 minutes. */
  readonly replayWindowMs?: number;
  /** Prepared verifiers, keys and devices kept in memory (two generations of this many each). Default 50 000. */
  readonly verifierCacheSize?: number;
  /**
   * Activity written behind (activity-buffer.ts): held in memory up to this long, then written many
   * devices per page; the owner calls `flushActivity` on that schedule. Default 0: written with each
   * batch, as tools and tests that read `instance_activity` at once expect.
   */
  readonly activityFlushMs?: number;
}

/**
 * 10 minutes: far longer than any deferral a hub grants by default, and the table stays small
 * enough to stay in the page cache at full load (≈ 3,300 req/s × 600 s ≈ 2 M rows).
 */
const DEFAULT_REPLAY_WINDOW_MS = 600_000;

export class SqliteHubStore implements HubStore {
  readonly batched = true;
  readonly db: SqliteDatabase;
  readonly path: string;
  readonly journal: WriteJournal;
  readonly registry: HubRegistry;
  readonly policy: SqlitePolicy;
  /** Appends one entry in its own transaction (for callers outside a decision; decisions batch). */
  readonly audit: AuditLog;
  readonly replay: ReplayLog;
  readonly replayWindowMs: number;
  readonly cache: ConfigCache;
  /** Published releases, for chunk serving (read once, then from memory). */
  readonly releases: SqliteReleases;
  readonly view: HubView;
  private readonly hubId: string | undefined;

  static open(options: SqliteHubStoreOptions): SqliteHubStore {
    const db = openHubDatabase(options.path, options);
    try {
      if (options.identity !== undefined) claimHubIdentity(db, options.identity);
      return new SqliteHubStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(db: SqliteDatabase, options: SqliteHubStoreOptions) {
    this.db = db;
    this.path = options.path;
    this.hubId = options.identity?.hubId ?? readHubIdentity(db)?.hubId;
    this.replayWindowMs = options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    const backend = options.backend ?? cryptoBackend('node');
    const size = options.verifierCacheSize ?? 50_000;
    this.cache = new ConfigCache(db, size);
    // Rollback counts of staged rollouts are written with the reports they come from.
    const activity = new ActivityBuffer(db, { flushMs: options.activityFlushMs ?? 0 });
    this.journal = new WriteJournal(db, this.hubId, new RolloutCounter(db, this.cache, this.hubId), {}, activity);
    // What a process killed with activity still held had not written (forward only: harmless otherwise).
    if (activity.flushMs > 0) activity.foldAudit(db, (options.clock ?? Date.now)() - this.replayWindowMs);
    const registry = new SqliteRegistry(db, this.cache, backend, size);
    this.registry = registry;
    this.policy = new SqlitePolicy(db, this.cache);
    const journal = this.journal;
    this.audit = { append: (entry: AuditEntry) => void journal.commit([{ audit: entry }]) };
    this.replay = new ReplayLog(db, { windowMs: this.replayWindowMs, nowMs: (options.clock ?? Date.now)() });
    // Another hub process on this database answered requests: learn their nonces too.
    this.cache.onExternalWrite = () => this.replay.catchUp();
    this.releases = new SqliteReleases(db);
    const { cache, policy, replay, releases } = this;
    this.view = {
      // The first lookup of every request: checks for operator changes first (once per synchronous run).
      keyById: (keyId) => registry.keyById(keyId),
      deviceState: (deviceId) => {
        cache.refresh();
        return cache.device(deviceId)?.state;
      },
      evaluate: (deviceId, instance, runtime) => policy.evaluate(deviceId, instance, runtime),
      seen: (deviceId, instance, nonce) => replay.seen(deviceId, instance, nonce),
      release: (board, label, version) => releases.release(board, label, version),
      bootControls: (deviceId) => policy.bootControls(deviceId),
    };
  }

  identity(): HubIdentity | undefined {
    return readHubIdentity(this.db);
  }

  /** Commits a batch of decisions' effects in one transaction (see WriteJournal); throws on failure. */
  commit(batch: readonly HubEffects[]): void {
    if (writesNothing(batch)) return; // plain image chunks: nothing to make durable
    this.journal.commit(batch);
    this.replay.committed(answeredOf(batch));
  }

  /** As `commit`, without waiting on another process's write lock: false = not yet, nothing written. */
  tryCommit(batch: readonly HubEffects[]): boolean {
    if (writesNothing(batch)) return true;
    if (this.journal.tryCommit(batch) === 'busy') return false;
    this.replay.committed(answeredOf(batch));
    return true;
  }

  /**
   * Records instances whose deadline passed (TIMEOUT or FAIL). With activity written behind, only
   * deadlines passed more than two flush intervals ago (one, and the timer's slack): a newer one may
   * still be held in memory, here or in another process.
   */
  sweep(nowMs: number): SweepResult {
    return sweepDeadlines(this.db, nowMs, this.hubId, undefined, 2 * this.journal.activity.flushMs);
  }

  /** Writes the activity held in memory (write-behind); throws when it cannot (the writes stay held). */
  flushActivity(): number {
    return this.journal.activity.flush();
  }

  /** Writes what activity is held, then closes the database (checkpointing the WAL). Idempotent. */
  close(): void {
    if (!this.db.open) return;
    try {
      this.flushActivity();
    } catch {
      // Lost with the process; the next start folds it back from the audit.
    }
    this.db.close();
  }
}

function answeredOf(batch: readonly HubEffects[]): AnsweredNonce[] {
  return batch.flatMap((e) => (e.answered !== undefined ? [e.answered] : []));
}

/** Prepared verifiers by public key, in the config cache's two generations (never stale: keyed by content). */
class VerifierCache {
  private readonly cache: Bounded<Verifier>;
  constructor(
    private readonly backend: CryptoBackend,
    size: number,
  ) {
    this.cache = new Bounded(size);
  }

  get(publicKey: Uint8Array): Verifier {
    const key = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1');
    let v = this.cache.get(key);
    if (v === undefined) this.cache.set(key, (v = this.backend.verifier(publicKey)));
    return v;
  }
}

class SqliteRegistry implements HubRegistry {
  private readonly verifiers: VerifierCache;
  /** Each cached key row's EnrolledKey (dropped with the row when the cache lets it go). */
  private readonly enrolledOf = new WeakMap<KeyRow, EnrolledKey>();
  private readonly byInstance;
  private readonly instancesOf;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly cache: ConfigCache,
    private readonly backend: CryptoBackend,
    cacheSize: number,
  ) {
    this.verifiers = new VerifierCache(backend, cacheSize);
    this.byInstance = db.prepare(
      'SELECT device_id AS deviceId, instance, public_key AS publicKey, key_id AS keyId FROM device_key WHERE device_id = ? AND instance = ?',
    );
    this.instancesOf = db.prepare('SELECT instance FROM device_key WHERE device_id = ? ORDER BY instance').pluck();
  }

  enroll(deviceId: string, instance: Instance, publicKey: Uint8Array): EnrolledKey {
    enrollKeys(this.db, deviceId, [{ instance, publicKey }], { backend: this.backend });
    return this.keyFor(deviceId, instance)!;
  }

  /** Checks for operator changes first (once per synchronous run): the first lookup of a request. */
  keyById(keyId: Uint8Array): EnrolledKey | undefined {
    if (!(keyId instanceof Uint8Array) || keyId.length === 0 || keyId.length > 64) return undefined;
    this.cache.refresh();
    return this.enrolled(this.cache.key(keyId));
  }

  keyFor(deviceId: string, instance: Instance): EnrolledKey | undefined {
    return this.enrolledFresh(this.byInstance.get(deviceId, instance) as KeyRow | undefined);
  }

  device(deviceId: string): EnrolledDevice | undefined {
    this.cache.refresh();
    const row = this.cache.device(deviceId);
    if (row === undefined) return undefined;
    const instancesOf = this.instancesOf;
    // The core needs only the state; the instance list costs a query, so it is read on demand.
    return {
      deviceId,
      state: row.state,
      get instances(): readonly Instance[] {
        return instancesOf.all(deviceId) as Instance[];
      },
    };
  }

  devices(): readonly EnrolledDevice[] {
    const rows = this.db.prepare('SELECT device_id FROM device ORDER BY device_id').pluck().all() as string[];
    return rows.flatMap((id) => this.device(id) ?? []);
  }

  setState(deviceId: string, state: DeviceState): void {
    changeDeviceState(this.db, deviceId, state === 'active' ? 'release' : state === 'quarantined' ? 'quarantine' : 'revoke');
  }

  activity(deviceId: string, instance: Instance): InstanceActivity | undefined {
    const row = this.db
      .prepare(
        'SELECT last_request_at_ms, last_outcome, last_reason, last_ticket_at_ms, last_deferral_ms FROM instance_activity WHERE device_id = ? AND instance = ?',
      )
      .get(deviceId, instance) as
      | {
          last_request_at_ms: number | null;
          last_outcome: InstanceActivity['lastOutcome'] | null;
          last_reason: string | null;
          last_ticket_at_ms: number | null;
          last_deferral_ms: number | null;
        }
      | undefined;
    if (row === undefined) return undefined;
    // Committed activity only: a decision's writes reach the database with its batch.
    return {
      ...(row.last_request_at_ms !== null ? { lastRequestAtMs: row.last_request_at_ms } : {}),
      ...(row.last_outcome !== null ? { lastOutcome: row.last_outcome } : {}),
      ...(row.last_reason !== null ? { lastReason: parseDecisionReason(row.last_reason) } : {}),
      ...(row.last_ticket_at_ms !== null ? { lastTicketAtMs: row.last_ticket_at_ms } : {}),
      ...(row.last_deferral_ms !== null ? { lastDeferralMs: row.last_deferral_ms } : {}),
    };
  }

  /**
   * The enrolled key of a cached row, built once per row (its own copies and its verifier) and then
   * handed out as is: a request costs no copies and no verifier look-up. Callers only read it.
   */
  private enrolled(row: KeyRow | undefined): EnrolledKey | undefined {
    if (row === undefined) return undefined;
    const known = this.enrolledOf.get(row);
    if (known !== undefined) return known;
    const key = this.enrolledFresh(row);
    if (key !== undefined) this.enrolledOf.set(row, key);
    return key;
  }

  private enrolledFresh(row: KeyRow | undefined): EnrolledKey | undefined {
    if (row === undefined || !isInstance(row.instance)) return undefined;
    const publicKey = new Uint8Array(row.publicKey);
    return {
      deviceId: row.deviceId,
      instance: row.instance,
      keyId: new Uint8Array(row.keyId),
      publicKey,
      verifier: this.verifiers.get(publicKey),
    };
  }
}

/**
 * Policy from the database (CachedPolicy over the ConfigCache). The operator verbs (`withhold`,
 * `resume`, `requireUpdate`, `clearUpdate`) write the database, audited.
 */
export class SqlitePolicy extends CachedPolicy implements HubPolicy {
  constructor(
    private readonly db: SqliteDatabase,
    cache: ConfigCache,
  ) {
    super(cache);
  }

  withhold(deviceId: string, instance?: Instance, reason = 'withheld by operator'): void {
    withholdInstance(this.db, deviceId, instance, reason);
  }

  resume(deviceId: string, instance?: Instance): void {
    resumeInstance(this.db, deviceId, instance);
  }

  requireUpdate(deviceId: string, instance: Instance, what: UpdateTarget): void {
    requireInstanceUpdate(this.db, deviceId, instance, what);
  }

  clearUpdate(deviceId: string, instance: Instance): void {
    clearInstanceUpdate(this.db, deviceId, instance);
  }
}
