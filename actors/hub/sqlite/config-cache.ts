/**
 * The hub's read cache of operator state: keys by key id, device state and policy, holds, the fleet
 * policy. Capacity matters (the hub must be bound by its crypto, not its SQL), so a request should not
 * cost a handful of SQL queries; freshness matters too (an operator's `quarantine` from another
 * process must apply at the device's next request). Both, by checking before each request whether
 * anything changed:
 *
 * - `PRAGMA data_version` moves when another connection committed anything (one cheap pragma);
 * - only then is `meta.config_version` read, which moves only with operator changes (admin.ts), so
 *   another hub process's audit writes do not empty the cache;
 * - changes on this process's own connection (data_version does not move for those) notify the
 *   cache directly through `onConfigChange`.
 *
 * Staged rollouts are read through it too (one query, then a map by instance): a rollout changes
 * only with an operator command or a halt, and both move the config version.
 *
 * Prepared verifiers are cached by public key elsewhere (content-keyed, never stale).
 */
import type { DeviceState } from '../registry.ts';
import { configVersion, onConfigChange } from './admin.ts';
import type { SqliteDatabase } from './database.ts';

export interface KeyRow {
  readonly deviceId: string;
  readonly instance: string;
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;
}

export interface DeviceRow {
  readonly state: DeviceState;
  /** The device's own policy document (JSON text), if any. */
  readonly policy: string | undefined;
  readonly holds: ReadonlyArray<{ readonly instance: string; readonly kind: string; readonly detail: string }>;
}

/** The active or halted rollout of one instance (sqlite/rollouts.ts), as the ticket path needs it. */
export interface CurrentRollout {
  readonly id: number;
  readonly instance: string;
  readonly release: number;
  readonly percent: number;
  readonly state: 'active' | 'halted';
  /** The update target, as JSON (updateTargetJson). */
  readonly target: string;
}

/** Two generations of at most `size` + 1 entries each: bounded, with no per-hit reordering. */
export class Bounded<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  constructor(private readonly size: number) {}

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const old = this.old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: V): void {
    this.young.set(key, value);
    // Past `size`, not at it: a cache sized to exactly the keys it serves (`--key-cache` = the
    // fleet's instances, as the help says) then never swaps; at it, every round through the fleet
    // swapped once and each request moved its entry from the old generation to the new.
    if (this.young.size > this.size) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }
}

export class ConfigCache {
  private readonly db: SqliteDatabase;
  private readonly dataVersion;
  private readonly keyRowById;
  private readonly deviceById;
  private readonly holds;
  private readonly fleet;
  private readonly currentRollouts;
  private readonly keys: Bounded<KeyRow>;
  private readonly devices: Bounded<DeviceRow>;
  private fleetText: { text: string | undefined } | undefined;
  private rolloutsByInstance: ReadonlyMap<string, CurrentRollout> | undefined;
  private lastData: number | undefined;
  private lastConfig: string | undefined;
  private invalidationCount = 0;
  private checked = false;

  /** Called whenever another connection wrote the database (before any config check). */
  onExternalWrite: (() => void) | undefined;

  constructor(db: SqliteDatabase, size: number) {
    this.db = db;
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.keyRowById = db.prepare('SELECT device_id, instance, public_key, key_id FROM device_key WHERE key_id = ?');
    this.deviceById = db.prepare('SELECT state, policy FROM device WHERE device_id = ?');
    this.holds = db.prepare('SELECT instance, kind, detail FROM operator_hold WHERE device_id = ?');
    this.fleet = db.prepare('SELECT policy FROM fleet_policy WHERE id = 1').pluck();
    this.currentRollouts = db.prepare(
      "SELECT id, instance, release, percent, state, target FROM rollout WHERE state IN ('active', 'halted')",
    );
    this.keys = new Bounded(size);
    this.devices = new Bounded(size);
    this.lastConfig = configVersion(db);
    this.lastData = this.dataVersion.get() as number;
    onConfigChange(db, () => this.invalidate());
  }

  /** How often the cache was emptied (tests, stats). */
  get invalidations(): number {
    return this.invalidationCount;
  }

  /**
   * Drops everything if an operator changed the database since the last check. Checks at most once
   * per synchronous run (unless `always`): a check is a read transaction on the WAL, which costs
   * about a tenth of a signature verification, and the requests MQTT.js delivers from one socket
   * read all run in one synchronous run (process.nextTick) — they arrived together, so one check
   * before the first of them serves them all. A change is seen from the next socket read on.
   */
  refresh(always = false): void {
    if (this.checked && !always) return;
    if (!this.checked) queueMicrotask(() => (this.checked = false));
    this.checked = true;
    const data = this.dataVersion.get() as number;
    if (data === this.lastData) return;
    this.lastData = data;
    this.onExternalWrite?.();
    const config = configVersion(this.db);
    if (config === this.lastConfig) return;
    this.lastConfig = config;
    this.invalidate();
  }

  invalidate(): void {
    this.invalidationCount++;
    this.keys.clear();
    this.devices.clear();
    this.fleetText = undefined;
    this.rolloutsByInstance = undefined;
  }

  /** The enrolment a key id names; misses are not cached (a flood of unknown ids must not fill it). */
  key(keyId: Uint8Array): KeyRow | undefined {
    const k = latin1(keyId);
    let row = this.keys.get(k);
    if (row !== undefined) return row;
    const r = this.keyRowById.get(keyId) as { device_id: string; instance: string; public_key: Uint8Array; key_id: Uint8Array } | undefined;
    if (r === undefined) return undefined;
    row = { deviceId: r.device_id, instance: r.instance, publicKey: new Uint8Array(r.public_key), keyId: new Uint8Array(r.key_id) };
    this.keys.set(k, row);
    return row;
  }

  device(deviceId: string): DeviceRow | undefined {
    let row = this.devices.get(deviceId);
    if (row !== undefined) return row;
    const r = this.deviceById.get(deviceId) as { state: DeviceState; policy: string | null } | undefined;
    if (r === undefined) return undefined;
    const holds = this.holds.all(deviceId) as Array<{ instance: string; kind: string; detail: string }>;
    row = { state: r.state, policy: r.policy ?? undefined, holds };
    this.devices.set(deviceId, row);
    return row;
  }

  /** The instance's active or halted rollout, if any. */
  rollout(instance: string): CurrentRollout | undefined {
    this.rolloutsByInstance ??= new Map((this.currentRollouts.all() as CurrentRollout[]).map((r) => [r.instance, r]));
    return this.rolloutsByInstance.get(instance);
  }

  fleetPolicy(): string | undefined {
    this.fleetText ??= { text: this.fleet.get() as string | undefined };
    return this.fleetText.text;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
