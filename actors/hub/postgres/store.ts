/**
 * A hub's state in PostgreSQL (docs/ARCHITECTURE.md §7.4), as a `HubStore` (effects.ts) that
 * commits asynchronously (`commitAsync`): any number of workers of one hub id share the database
 * and none holds state another needs. Decisions read a synchronous view: the operator state from
 * the worker's `RegistrySnapshot` (kept fresh by NOTIFY, re-read every `reloadMs`), answered nonces
 * from its `ReplayWindow`. Commits go through `PgJournal`, one transaction per batch.
 */
import { cryptoBackend, type CryptoBackend } from '../../crypto/index.ts';
import { isInstance } from '../../../proto/index.ts';
import { CachedPolicy } from '../cached-policy.ts';
import type { CommitResult, HubEffects, HubStore, HubView } from '../effects.ts';
import { writesNothing } from '../effects.ts';
import type { EnrolledKey } from '../registry.ts';
import { replayKey } from '../replay.ts';
import type { HubIdentity, SweepResult } from '../sqlite/index.ts';
import { HubStoreError } from '../sqlite/errors.ts';
import { claimPgHubIdentity, readPgHubIdentity } from './admin.ts';
import type { ConfigChange } from './config-channel.ts';
import { ConfigListener } from './config-listener.ts';
import { describeUrl, openPool, type PgConnectOptions, type PgPool } from './connect.ts';
import { migratePg, requirePgSchema } from './migrations.ts';
import { PgJournal } from './pg-journal.ts';
import { ReplayWindow } from './replay-window.ts';
import { RegistrySnapshot, type SnapshotKey } from './registry-snapshot.ts';
import { pruneAnsweredNonces, sweepPgDeadlines } from './sweep.ts';

export interface PgHubStoreOptions extends PgConnectOptions {
  /** Binds the database to this hub (first open) or checks it is this hub's. */
  readonly identity?: HubIdentity;
  /** Create or migrate the schema. Default false: a missing schema is an error. */
  readonly init?: boolean;
  readonly backend?: CryptoBackend;
  readonly clock?: () => number;
  /** How long answered nonces are kept (memory and table). Default 10 minutes. */
  readonly replayWindowMs?: number;
  /** Safety net behind NOTIFY: the whole operator state is re-read this often. Default 30 000 ms. */
  readonly reloadMs?: number;
  /** How often the LISTEN connection is retried once lost. Default 1000 ms. */
  readonly listenRetryMs?: number;
}

export class PgHubStore implements HubStore {
  readonly batched = true;
  readonly pool: PgPool;
  readonly where: string;
  readonly journal: PgJournal;
  readonly snapshot: RegistrySnapshot;
  readonly replay: ReplayWindow;
  readonly replayWindowMs: number;
  readonly view: HubView;
  private listener: ConfigListener | undefined;
  private readonly reloadTimer: NodeJS.Timeout;
  private readonly changeListeners = new Set<(change: ConfigChange) => void>();
  private readonly hubId: string | undefined;
  private closed = false;
  /** Failed background reloads (the view keeps its last good copy meanwhile). */
  reloadFailures = 0;

  static async open(options: PgHubStoreOptions): Promise<PgHubStore> {
    const where = `PostgreSQL at ${describeUrl(options.url)}`;
    const pool = await openPool(options);
    try {
      if (options.init === true) await migratePg(pool);
      else await requirePgSchema(pool, where);
      if (options.identity !== undefined) await claimPgHubIdentity(pool, options.identity);
      const hubId = options.identity?.hubId ?? (await readPgHubIdentity(pool))?.hubId;
      const store = new PgHubStore(pool, where, hubId, options);
      try {
        await store.startListening(options);
        await store.snapshot.reload();
        await store.loadWindow((options.clock ?? Date.now)());
      } catch (err) {
        await store.close();
        throw err;
      }
      return store;
    } catch (err) {
      await pool.end().catch(() => {});
      if (err instanceof HubStoreError) throw err;
      throw new HubStoreError('io', `${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private constructor(pool: PgPool, where: string, hubId: string | undefined, options: PgHubStoreOptions) {
    this.pool = pool;
    this.where = where;
    this.hubId = hubId;
    this.replayWindowMs = options.replayWindowMs ?? 600_000;
    this.snapshot = new RegistrySnapshot(pool);
    const current = this.snapshot;
    this.journal = new PgJournal(pool, hubId ?? null, {}, (instance) => current.rollout(instance));
    this.replay = new ReplayWindow(this.replayWindowMs);
    const backend = options.backend ?? cryptoBackend('node');
    // Two levels: by the snapshot's row (no work per request), then by content (a whole reload makes
    // new rows of the same keys; preparing a verifier costs about a verify).
    const byRow = new WeakMap<SnapshotKey, EnrolledKey>();
    const verifiers = new Map<string, EnrolledKey>();
    const policy = new CachedPolicy(this.snapshot);
    const { snapshot, replay } = this;
    this.view = {
      keyById: (keyId) => {
        if (!(keyId instanceof Uint8Array) || keyId.length === 0 || keyId.length > 64) return undefined;
        const row = snapshot.key(keyId);
        if (row === undefined || !isInstance(row.instance)) return undefined;
        const known = byRow.get(row);
        if (known !== undefined) return known;
        // A rotated key is a new entry; what is left of unenrolled keys goes once the map outgrows the fleet.
        const k = `${row.deviceId}\u0000${row.instance}\u0000${Buffer.from(row.publicKey).toString('hex')}`;
        let key = verifiers.get(k);
        if (key === undefined) {
          if (verifiers.size > 2 * snapshot.keyCount + 1024) verifiers.clear();
          key = {
            deviceId: row.deviceId,
            instance: row.instance,
            keyId: row.keyId,
            publicKey: row.publicKey,
            verifier: backend.verifier(row.publicKey),
          };
          verifiers.set(k, key);
        }
        byRow.set(row, key);
        return key;
      },
      deviceState: (deviceId) => snapshot.device(deviceId)?.state,
      evaluate: (deviceId, instance, runtime) => policy.evaluate(deviceId, instance, runtime),
      seen: (deviceId, instance, nonce) => replay.seen(deviceId, instance, nonce),
      release: (board, label, version) => snapshot.release(board, label, version),
      bootControls: (deviceId) => policy.bootControls(deviceId),
    };
    this.reloadTimer = setInterval(() => void this.reload(), options.reloadMs ?? 30_000);
    this.reloadTimer.unref();
  }

  /** Called after each operator change this worker applied (tests wait for it). */
  onChange(listener: (change: ConfigChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => void this.changeListeners.delete(listener);
  }

  /** True while the LISTEN connection is up (operator changes arrive within a round trip). */
  get listening(): boolean {
    return this.listener?.connected ?? false;
  }

  identity(): Promise<HubIdentity | undefined> {
    return readPgHubIdentity(this.pool);
  }

  tryCommit(): boolean {
    throw new HubStoreError('refused', 'a PostgreSQL store commits asynchronously (commitAsync)');
  }

  commit(): void {
    throw new HubStoreError('refused', 'a PostgreSQL store commits asynchronously (commitAsync)');
  }

  /** One transaction for the batch; the replies may go out once this resolved (minus `replayed`). */
  async commitAsync(batch: readonly HubEffects[]): Promise<CommitResult> {
    if (writesNothing(batch)) return { replayed: new Set() };
    const answered = batch.flatMap((e) => (e.answered !== undefined ? [e.answered] : []));
    this.replay.begin(answered);
    try {
      const result = await this.journal.commit(batch);
      this.replay.settle(answered, true);
      return result;
    } catch (err) {
      this.replay.settle(answered, false);
      throw err;
    }
  }

  /** Records passed deadlines (TIMEOUT or FAIL) and forgets answered nonces past the window. */
  async sweep(nowMs: number): Promise<SweepResult> {
    const r = await sweepPgDeadlines(this.pool, nowMs, this.hubId);
    await pruneAnsweredNonces(this.pool, nowMs - this.replayWindowMs - 60_000);
    return r;
  }

  /** A round trip to the server: true when it answers (the hub's recovery probe). */
  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.reloadTimer);
    await this.listener?.stop();
    await this.pool.end().catch(() => {});
  }

  private async startListening(options: PgConnectOptions & { listenRetryMs?: number }): Promise<void> {
    this.listener = await ConfigListener.start(options, (change) => void this.applyChange(change), options.listenRetryMs ?? 1000);
  }

  private async applyChange(change: ConfigChange): Promise<void> {
    try {
      await this.snapshot.apply(change);
    } catch {
      this.reloadFailures++;
      return; // the periodic reload catches up
    }
    this.announce(change);
  }

  private announce(change: ConfigChange): void {
    for (const l of this.changeListeners) {
      try {
        l(change);
      } catch {
        // a listener's bug is not the store's
      }
    }
  }

  /** The safety net behind NOTIFY: a whole reload when the operator state changed since the last. */
  private async reload(): Promise<void> {
    if (this.closed) return;
    let changed: boolean;
    try {
      changed = await this.snapshot.reloadIfChanged();
    } catch {
      this.reloadFailures++;
      return; // the next tick tries again
    }
    if (changed) this.announce({ all: true });
  }

  /** Every worker's answered nonces of the window (a restarted worker refuses what was answered). */
  private async loadWindow(nowMs: number): Promise<void> {
    const r = await this.pool.query<{ device_id: string; instance: string; nonce: Buffer; at_ms: number }>(
      'SELECT device_id, instance, nonce, at_ms FROM answered_nonce WHERE at_ms >= $1 ORDER BY at_ms',
      [nowMs - this.replayWindowMs],
    );
    for (const row of r.rows) this.replay.remember(replayKey(row.device_id, row.instance, row.nonce), row.at_ms);
  }
}
