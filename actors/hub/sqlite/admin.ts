/**
 * Changes an operator makes to a hub database: enrolment, device state (quarantine, release,
 * revoke), withholds, required updates, policy. Each runs in its own IMMEDIATE transaction together
 * with its audit row (outcome `operator`), so a change and its record never come apart. A running
 * hub reads device state, keys, holds and policy from the database on every request, so a change
 * committed here takes effect at the device's next request, whichever process made it.
 */
import { cryptoBackend, hex, type CryptoBackend } from '../../crypto/index.ts';
import { instanceProblem, type Instance } from '../../../proto/index.ts';
import { DEVICE_ID_PATTERN } from '../../provisioning/index.ts';
import type { DeviceState } from '../registry.ts';
import { dominates, hubName, type HubRole } from '../role.ts';
import { cleanDetail, type MemoryPolicyRules, type UpdateTarget } from '../policy.ts';
import { parsePolicyDocument, policyDocumentJson, updateTargetJson } from '../policy-doc.ts';
import type { OperatorReason } from '../reasons.ts';
import type { SqliteDatabase } from './database.ts';
import { HubStoreError } from './errors.ts';

/**
 * Config version: every change an operator makes (enrolment, state, holds, policy) bumps
 * `meta.config_version` in the same transaction. A hub caches device state, keys, holds and policy
 * and drops its caches when that version moves: a change by another process shows as a new
 * `PRAGMA data_version` plus a new config version; a change made on the hub's own connection
 * notifies it directly (`onConfigChange`). Edit a hub database only through these functions (or
 * bump `config_version` yourself), or a running hub will not notice.
 */
const listeners = new WeakMap<SqliteDatabase, Set<() => void>>();

export function onConfigChange(db: SqliteDatabase, listener: () => void): () => void {
  let set = listeners.get(db);
  if (set === undefined) listeners.set(db, (set = new Set()));
  set.add(listener);
  return () => void set.delete(listener);
}

/**
 * Moves the config version (and tells this connection's caches at once). Call it inside the
 * transaction of any change a running hub must notice; `auditOperator` does.
 */
export function bumpConfig(db: SqliteDatabase): void {
  db.prepare(
    "INSERT INTO meta (key, value) VALUES ('config_version', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
  ).run();
  for (const l of listeners.get(db) ?? []) l();
}

/** The current config version (`undefined` before the first change). */
export function configVersion(db: SqliteDatabase): string | undefined {
  return db.prepare("SELECT value FROM meta WHERE key = 'config_version'").pluck().get() as string | undefined;
}

export interface HubIdentity {
  readonly hubId: string;
  readonly role: HubRole;
}

/** The hub this database belongs to, once a hub or an enrolment has claimed it. */
export function readHubIdentity(db: SqliteDatabase): HubIdentity | undefined {
  const rows = db.prepare("SELECT key, value FROM meta WHERE key IN ('hub_id', 'role', 'service')").all() as Array<{
    key: string;
    value: string;
  }>;
  const meta = new Map(rows.map((r) => [r.key, r.value]));
  const hubId = meta.get('hub_id');
  const role = meta.get('role');
  if (hubId === undefined || (role !== 'ih' && role !== 'sh')) return undefined;
  const service = meta.get('service');
  if (role === 'sh' && service === undefined) return undefined;
  return { hubId, role: role === 'ih' ? { kind: 'ih' } : { kind: 'sh', service: service! } };
}

/**
 * Binds the database to one hub (id and role) the first time, and refuses a different hub after
 * that: an SH must never run on the IH's database and so learn keys of instances it does not own.
 */
export function claimHubIdentity(db: SqliteDatabase, identity: HubIdentity): void {
  db.transaction(() => {
    const current = readHubIdentity(db);
    if (current === undefined) {
      const put = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
      put.run('hub_id', identity.hubId);
      put.run('role', identity.role.kind);
      if (identity.role.kind === 'sh') put.run('service', identity.role.service);
      return;
    }
    if (hubName(current) !== hubName(identity)) {
      throw new HubStoreError('wrong-hub', `${db.name}: this database belongs to hub ${hubName(current)}, not ${hubName(identity)}`);
    }
  }).immediate();
}

export interface EnrollKey {
  readonly instance: Instance;
  readonly publicKey: Uint8Array;
}

export interface EnrollOptions {
  /** Enrol a device that was revoked again (with new keys). Default false: refused. */
  readonly reinstate?: boolean;
  readonly backend?: CryptoBackend;
  readonly nowMs?: number;
}

/**
 * Registers (or rotates) keys of one device. With a claimed hub identity, only instances this hub
 * dominates are accepted. One key never serves two (device, instance) pairs.
 */
export function enrollKeys(db: SqliteDatabase, deviceId: string, keys: readonly EnrollKey[], options: EnrollOptions = {}): void {
  if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId))
    throw new HubStoreError('refused', 'device id must be 1-64 characters of [A-Za-z0-9._-]');
  if (keys.length === 0) throw new HubStoreError('refused', `no keys to enrol for ${deviceId}`);
  const backend = options.backend ?? cryptoBackend('node');
  const nowMs = options.nowMs ?? Date.now();
  const prepared = keys.map((k) => {
    const problem = instanceProblem(k.instance);
    if (problem !== undefined)
      throw new HubStoreError('refused', `instance ${JSON.stringify(String(k.instance).slice(0, 40))}: ${problem}`);
    let keyId: Uint8Array;
    try {
      keyId = backend.verifier(k.publicKey).keyId; // also checks the key's length
    } catch (err) {
      throw new HubStoreError(
        'refused',
        `public key for ${k.instance}: ${err instanceof Error ? err.message : 'not an Ed25519 public key'}`,
      );
    }
    return { instance: k.instance, publicKey: k.publicKey.slice(), keyId };
  });
  db.transaction(() => {
    const identity = readHubIdentity(db);
    for (const k of prepared) {
      if (identity !== undefined && !dominates(identity.role, k.instance)) {
        throw new HubStoreError('refused', `hub ${hubName(identity)} does not dominate ${k.instance}: enrol that key with its own hub`);
      }
      const holder = db.prepare('SELECT device_id, instance FROM device_key WHERE key_id = ?').get(k.keyId) as
        { device_id: string; instance: string } | undefined;
      if (holder !== undefined && (holder.device_id !== deviceId || holder.instance !== k.instance)) {
        throw new HubStoreError('refused', `key ${hex(k.keyId)} is already enrolled for ${holder.device_id}/${holder.instance}`);
      }
    }
    const existing = db.prepare('SELECT state FROM device WHERE device_id = ?').pluck().get(deviceId) as DeviceState | undefined;
    if (existing === 'revoked' && options.reinstate !== true) {
      throw new HubStoreError('refused', `device ${deviceId} is revoked; enrol it again with new keys and --reinstate`);
    }
    if (existing === undefined) {
      db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES (?, 'active', ?, ?)").run(
        deviceId,
        nowMs,
        nowMs,
      );
    } else if (existing === 'revoked') {
      db.prepare("UPDATE device SET state = 'active', state_reason = NULL, updated_at_ms = ? WHERE device_id = ?").run(nowMs, deviceId);
    }
    const upsert = db.prepare(
      `INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (device_id, instance) DO UPDATE SET public_key = excluded.public_key, key_id = excluded.key_id, enrolled_at_ms = excluded.enrolled_at_ms`,
    );
    for (const k of prepared) upsert.run(deviceId, k.instance, k.publicKey, k.keyId, nowMs);
    const verb = existing === undefined ? 'enrolled' : existing === 'revoked' ? 'reinstated' : 're-enrolled';
    auditOperator(
      db,
      nowMs,
      verb,
      deviceId,
      prepared.length === 1 ? prepared[0]!.instance : null,
      `keys for ${prepared.map((k) => k.instance).join(', ')}`,
    );
  }).immediate();
}

export type StateChange = 'quarantine' | 'release' | 'revoke';

/** Quarantine, release or revoke a device. A revoked device stays revoked until enrolled again. */
export function changeDeviceState(
  db: SqliteDatabase,
  deviceId: string,
  change: StateChange,
  reason?: string,
  nowMs = Date.now(),
): DeviceState {
  const next: DeviceState = change === 'quarantine' ? 'quarantined' : change === 'release' ? 'active' : 'revoked';
  db.transaction(() => {
    const current = requireDevice(db, deviceId);
    if (current === 'revoked' && change !== 'revoke') {
      throw new HubStoreError(
        'refused',
        `device ${deviceId} is revoked; it gets no tickets until enrolled again with new keys (--reinstate)`,
      );
    }
    const text = reason === undefined ? null : cleanDetail(reason);
    db.prepare('UPDATE device SET state = ?, state_reason = ?, updated_at_ms = ? WHERE device_id = ?').run(next, text, nowMs, deviceId);
    // A revoked device loses its broker account too (at the next "dominion broker-sync").
    if (next === 'revoked') db.prepare('DELETE FROM broker_credential WHERE username = ?').run(deviceId);
    auditOperator(db, nowMs, change, deviceId, null, text ?? `${current} -> ${next}`);
  }).immediate();
  return next;
}

/** Withholds tickets from one instance, or (instance undefined) from every instance of the device. */
export function withholdInstance(
  db: SqliteDatabase,
  deviceId: string,
  instance: Instance | undefined,
  reason: string,
  nowMs = Date.now(),
): void {
  db.transaction(() => {
    requireDevice(db, deviceId);
    db.prepare("INSERT OR REPLACE INTO operator_hold (device_id, instance, kind, detail, at_ms) VALUES (?, ?, 'withhold', ?, ?)").run(
      deviceId,
      instance ?? '*',
      cleanDetail(reason),
      nowMs,
    );
    auditOperator(db, nowMs, 'withhold', deviceId, instance ?? null, cleanDetail(reason));
  }).immediate();
}

/** Lifts a withhold; without an instance, every withhold on the device. */
export function resumeInstance(db: SqliteDatabase, deviceId: string, instance: Instance | undefined, nowMs = Date.now()): number {
  let lifted = 0;
  db.transaction(() => {
    requireDevice(db, deviceId);
    const del =
      instance === undefined
        ? db.prepare("DELETE FROM operator_hold WHERE device_id = ? AND kind = 'withhold'").run(deviceId)
        : db.prepare("DELETE FROM operator_hold WHERE device_id = ? AND instance = ? AND kind = 'withhold'").run(deviceId, instance);
    lifted = del.changes;
    auditOperator(db, nowMs, 'resume', deviceId, instance ?? null, `${lifted} withhold(s) lifted`);
  }).immediate();
  return lifted;
}

/** Demands that `instance` runs `target` before it gets tickets again (met once it reports it). */
export function requireInstanceUpdate(
  db: SqliteDatabase,
  deviceId: string,
  instance: Instance,
  target: UpdateTarget,
  nowMs = Date.now(),
): void {
  db.transaction(() => {
    requireDevice(db, deviceId);
    const detail = JSON.stringify(updateTargetJson(target));
    db.prepare("INSERT OR REPLACE INTO operator_hold (device_id, instance, kind, detail, at_ms) VALUES (?, ?, 'update', ?, ?)").run(
      deviceId,
      instance,
      detail,
      nowMs,
    );
    const named = target.version === String(target.releaseVersion) ? '' : ` (${target.version})`;
    auditOperator(db, nowMs, 'require-update', deviceId, instance, `${instance} must run release ${target.releaseVersion}${named}`);
  }).immediate();
}

export function clearInstanceUpdate(db: SqliteDatabase, deviceId: string, instance: Instance | undefined, nowMs = Date.now()): number {
  let cleared = 0;
  db.transaction(() => {
    requireDevice(db, deviceId);
    cleared =
      instance === undefined
        ? db.prepare("DELETE FROM operator_hold WHERE device_id = ? AND kind = 'update'").run(deviceId).changes
        : db.prepare("DELETE FROM operator_hold WHERE device_id = ? AND instance = ? AND kind = 'update'").run(deviceId, instance).changes;
    auditOperator(db, nowMs, 'clear-update', deviceId, instance ?? null, `${cleared} required update(s) cleared`);
  }).immediate();
  return cleared;
}

/** Sets (rules) or clears (undefined) the fleet default policy. */
export function setFleetPolicy(db: SqliteDatabase, rules: MemoryPolicyRules | undefined, nowMs = Date.now()): void {
  const text = rules === undefined ? undefined : policyDocumentJson(parsePolicyDocument(JSON.parse(policyDocumentJson(rules))));
  db.transaction(() => {
    if (text === undefined) db.prepare('DELETE FROM fleet_policy').run();
    else {
      db.prepare(
        `INSERT INTO fleet_policy (id, policy, version) VALUES (1, ?, 1)
         ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, version = version + 1`,
      ).run(text);
    }
    auditOperator(db, nowMs, 'policy', null, null, text === undefined ? 'fleet policy cleared' : 'fleet policy set');
  }).immediate();
}

/** Sets (rules) or clears (undefined) one device's own policy. */
export function setDevicePolicy(db: SqliteDatabase, deviceId: string, rules: MemoryPolicyRules | undefined, nowMs = Date.now()): void {
  const text = rules === undefined ? null : policyDocumentJson(parsePolicyDocument(JSON.parse(policyDocumentJson(rules))));
  db.transaction(() => {
    requireDevice(db, deviceId);
    db.prepare('UPDATE device SET policy = ?, updated_at_ms = ? WHERE device_id = ?').run(text, nowMs, deviceId);
    auditOperator(db, nowMs, 'policy', deviceId, null, text === null ? 'device policy cleared' : 'device policy set');
  }).immediate();
}

export function fleetPolicyText(db: SqliteDatabase): string | undefined {
  return db.prepare('SELECT policy FROM fleet_policy WHERE id = 1').pluck().get() as string | undefined;
}

export function devicePolicyText(db: SqliteDatabase, deviceId: string): string | undefined {
  requireDevice(db, deviceId);
  return (db.prepare('SELECT policy FROM device WHERE device_id = ?').pluck().get(deviceId) as string | null) ?? undefined;
}

function requireDevice(db: SqliteDatabase, deviceId: string): DeviceState {
  const state = db.prepare('SELECT state FROM device WHERE device_id = ?').pluck().get(deviceId) as DeviceState | undefined;
  if (state === undefined)
    throw new HubStoreError('refused', `device ${JSON.stringify(String(deviceId).slice(0, 64))} is not enrolled with this hub`);
  return state;
}

/**
 * Every operator change ends with its audit row, so this is where the config version moves. Exported
 * for the other operator changes of this folder (releases.ts); call it inside their transaction.
 */
export function auditOperator(
  db: SqliteDatabase,
  nowMs: number,
  reason: OperatorReason,
  deviceId: string | null,
  instance: string | null,
  detail: string | null,
): void {
  bumpConfig(db);
  db.prepare(
    "INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance) VALUES (?, NULL, 'operator', ?, ?, ?, ?)",
  ).run(nowMs, reason, detail, deviceId, instance);
}

/** An instance a hub answers for that no fleet rule covers, and how many enrolled devices have no policy of their own. */
export interface PolicyGap {
  readonly instance: Instance;
  readonly devicesWithoutPolicy: number;
}

/**
 * The instances among `instances` that the fleet policy covers neither by a rule of their own nor by
 * its `default`: a device without a policy of its own is then withheld `no-policy` at every request,
 * and resets (README, *Hubs and operator commands*). `dominion hub` warns of them at start-up.
 */
export function policyGaps(db: SqliteDatabase, instances: readonly Instance[]): PolicyGap[] {
  const text = fleetPolicyText(db);
  const fleet = text === undefined ? undefined : (JSON.parse(text) as MemoryPolicyRules);
  const uncovered = instances.filter((i) => fleet?.default === undefined && fleet?.instances?.[i] === undefined);
  if (uncovered.length === 0) return [];
  const devicesWithoutPolicy = db
    .prepare("SELECT count(*) FROM device WHERE policy IS NULL AND state != 'revoked'")
    .pluck()
    .get() as number;
  return uncovered.map((instance) => ({ instance, devicesWithoutPolicy }));
}
