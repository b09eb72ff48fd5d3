/**
 * A PostgreSQL hub worker's copy of the operator state (docs/ARCHITECTURE.md §7.4): keys by key id,
 * device states, policies and holds, the fleet policy, current rollouts, published releases. The
 * `HubView` is synchronous, so decisions read this copy; it is loaded at start, patched when a
 * NOTIFY names a change (config-listener.ts), and re-read whole every `reloadMs` as a safety net.
 *
 * A whole reload races with NOTIFYs that arrive while it reads: the devices they named are read
 * again after the reload replaced the copy, so a change is never lost behind an older snapshot.
 *
 * The safety net reads `config_version` first (migration 6: every transaction writing the tables
 * read here moves it as it commits) and reloads only when it moved since the last whole read: a whole read costs about
 * a second of CPU at 100,000 devices, which every 30 s was 3–5 % of a worker's core.
 */
import type { PolicyDevice, PolicyRollout, PolicySource } from '../cached-policy.ts';
import type { PublishedRelease } from '../releases.ts';
import { releaseKey } from '../releases.ts';
import type { DeviceState } from '../registry.ts';
import type { ConfigChange } from './config-channel.ts';
import type { PgQueryable } from './connect.ts';

/** The instance's current rollout, with its id (the journal counts failures against it: rollout-counter.ts). */
export type SnapshotRollout = PolicyRollout & { readonly id: number };

export interface SnapshotKey {
  readonly deviceId: string;
  readonly instance: string;
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;
}

interface Contents {
  keys: Map<string, SnapshotKey>;
  /** Each device's key ids (latin1), so one device's change does not scan every key. */
  keysOf: Map<string, string[]>;
  devices: Map<string, PolicyDevice>;
  fleet: string | undefined;
  rollouts: Map<string, SnapshotRollout>;
  releases: Map<string, PublishedRelease>;
}

export class RegistrySnapshot implements PolicySource {
  private c: Contents = {
    keys: new Map(),
    keysOf: new Map(),
    devices: new Map(),
    fleet: undefined,
    rollouts: new Map(),
    releases: new Map(),
  };
  private reloading: Set<string> | undefined;
  private applied = 0;
  /** config_version as read before the last whole read began. */
  private loadedVersion: number | undefined;
  private wholeReads = 0;

  constructor(private readonly db: PgQueryable) {}

  /** Changes applied so far (NOTIFYs and reloads). */
  get changes(): number {
    return this.applied;
  }

  refresh(): void {
    // Kept fresh by NOTIFY and the periodic reload: nothing to check per request.
  }

  key(keyId: Uint8Array): SnapshotKey | undefined {
    return this.c.keys.get(latin1(keyId));
  }

  device(deviceId: string): PolicyDevice | undefined {
    return this.c.devices.get(deviceId);
  }

  fleetPolicy(): string | undefined {
    return this.c.fleet;
  }

  rollout(instance: string): SnapshotRollout | undefined {
    return this.c.rollouts.get(instance);
  }

  release(board: string, label: string, version: number): PublishedRelease | undefined {
    return this.c.releases.get(releaseKey(board, label, version));
  }

  /** Whole reads so far (start, LISTEN reconnected, the safety net when the version moved). */
  get reloads(): number {
    return this.wholeReads;
  }

  /** Enrolled keys held. */
  get keyCount(): number {
    return this.c.keys.size;
  }

  /** The safety net: re-reads everything if the operator state changed since the last whole read. */
  async reloadIfChanged(): Promise<boolean> {
    if ((await this.readVersion()) === this.loadedVersion) return false;
    await this.reload();
    return true;
  }

  /** Re-reads everything (start, safety net, LISTEN reconnected). */
  async reload(): Promise<void> {
    const during = new Set<string>();
    this.reloading = during;
    try {
      // Read first: a change committed while the tables are read moves it past what is recorded here.
      const version = await this.readVersion();
      const next: Contents = {
        keys: new Map(),
        keysOf: new Map(),
        devices: new Map(),
        fleet: await this.readFleet(),
        rollouts: await this.readRollouts(),
        releases: await this.readReleases(),
      };
      const holds = await this.db.query<HoldRow>('SELECT device_id, instance, kind, detail FROM operator_hold');
      const byDevice = groupHolds(holds.rows);
      for (const d of (await this.db.query<DeviceRowPg>('SELECT device_id, state, policy FROM device')).rows)
        next.devices.set(d.device_id, { state: d.state, policy: d.policy ?? undefined, holds: byDevice.get(d.device_id) ?? [] });
      for (const k of (await this.db.query<KeyRowPg>('SELECT device_id, instance, public_key, key_id FROM device_key')).rows)
        addKey(next, k);
      this.c = next;
      this.loadedVersion = version;
      this.wholeReads++;
      this.applied++;
    } finally {
      this.reloading = undefined;
    }
    for (const deviceId of during) await this.apply({ device: deviceId });
  }

  /** Applies one announced change (reads what it names). */
  async apply(change: ConfigChange): Promise<void> {
    if ('all' in change) return this.reload();
    if ('fleet' in change) this.c.fleet = await this.readFleet();
    else if ('rollouts' in change) this.c.rollouts = await this.readRollouts();
    else if ('releases' in change) this.c.releases = await this.readReleases();
    else await this.readDevice(change.device);
    this.applied++;
  }

  private async readDevice(deviceId: string): Promise<void> {
    this.reloading?.add(deviceId);
    const d = (await this.db.query<DeviceRowPg>('SELECT device_id, state, policy FROM device WHERE device_id = $1', [deviceId])).rows[0];
    const holds = (
      await this.db.query<HoldRow>('SELECT device_id, instance, kind, detail FROM operator_hold WHERE device_id = $1', [deviceId])
    ).rows;
    const keys = (
      await this.db.query<KeyRowPg>('SELECT device_id, instance, public_key, key_id FROM device_key WHERE device_id = $1', [deviceId])
    ).rows;
    // Only keys still this device's: a key id enrolled since for another device stays.
    for (const id of this.c.keysOf.get(deviceId) ?? []) if (this.c.keys.get(id)?.deviceId === deviceId) this.c.keys.delete(id);
    this.c.keysOf.delete(deviceId);
    for (const k of keys) addKey(this.c, k);
    if (d === undefined) this.c.devices.delete(deviceId);
    else this.c.devices.set(deviceId, { state: d.state, policy: d.policy ?? undefined, holds: groupHolds(holds).get(deviceId) ?? [] });
  }

  private async readVersion(): Promise<number | undefined> {
    return (await this.db.query<{ version: number }>('SELECT version FROM config_version WHERE id = 1')).rows[0]?.version;
  }

  private async readFleet(): Promise<string | undefined> {
    return (await this.db.query<{ policy: string }>('SELECT policy FROM fleet_policy WHERE id = 1')).rows[0]?.policy;
  }

  private async readRollouts(): Promise<Map<string, SnapshotRollout>> {
    const r = await this.db.query<SnapshotRollout & { instance: string }>(
      "SELECT id, instance, release, percent, state, target FROM rollout WHERE state IN ('active', 'halted')",
    );
    return new Map(r.rows.map((row) => [row.instance, row]));
  }

  private async readReleases(): Promise<Map<string, PublishedRelease>> {
    const r = await this.db.query<ReleaseRowPg>(`SELECT ${RELEASE_COLUMNS} FROM release`);
    return new Map(r.rows.map((row) => [releaseKey(row.board, row.label, row.version), releaseOfRow(row)]));
  }
}

/** The columns `releaseOfRow` reads. */
export const RELEASE_COLUMNS = 'board, label, version, issued_at_ms, manifest, manifest_sig, bundle, bundle_sha512, published_at_ms';

export function releaseOfRow(row: ReleaseRowPg): PublishedRelease {
  return {
    board: row.board,
    label: row.label,
    version: row.version,
    issuedAt: row.issued_at_ms,
    manifest: new Uint8Array(row.manifest),
    signature: new Uint8Array(row.manifest_sig),
    bundle: new Uint8Array(row.bundle),
    digest: new Uint8Array(row.bundle_sha512),
    publishedAt: row.published_at_ms,
  };
}

interface DeviceRowPg {
  device_id: string;
  state: DeviceState;
  policy: string | null;
}
interface HoldRow {
  device_id: string;
  instance: string;
  kind: string;
  detail: string;
}
interface KeyRowPg {
  device_id: string;
  instance: string;
  public_key: Buffer;
  key_id: Buffer;
}
export interface ReleaseRowPg {
  board: string;
  label: string;
  version: number;
  issued_at_ms: number;
  manifest: Buffer;
  manifest_sig: Buffer;
  bundle: Buffer;
  bundle_sha512: Buffer;
  published_at_ms: number;
}

function groupHolds(rows: readonly HoldRow[]): Map<string, Array<{ instance: string; kind: string; detail: string }>> {
  const m = new Map<string, Array<{ instance: string; kind: string; detail: string }>>();
  for (const h of rows) {
    let list = m.get(h.device_id);
    if (list === undefined) m.set(h.device_id, (list = []));
    list.push({ instance: h.instance, kind: h.kind, detail: h.detail });
  }
  return m;
}

function keyOf(k: KeyRowPg): SnapshotKey {
  return { deviceId: k.device_id, instance: k.instance, publicKey: new Uint8Array(k.public_key), keyId: new Uint8Array(k.key_id) };
}

function addKey(c: Pick<Contents, 'keys' | 'keysOf'>, row: KeyRowPg): void {
  const id = latin1(row.key_id);
  c.keys.set(id, keyOf(row));
  const ids = c.keysOf.get(row.device_id);
  if (ids === undefined) c.keysOf.set(row.device_id, [id]);
  else ids.push(id);
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
