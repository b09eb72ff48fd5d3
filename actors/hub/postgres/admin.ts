/**
 * Operator changes on a PostgreSQL hub database (the counterparts of sqlite/admin.ts): enrolment,
 * quarantine/release/revoke, withholds, required updates, policy. Each runs in one transaction with its audit row
 * (outcome `operator`) and a NOTIFY naming what changed (`config-channel.ts`): PostgreSQL delivers
 * it at commit to every worker of the hub, which re-reads just that (registry-snapshot.ts).
 */
import { cryptoBackend, hex, type CryptoBackend } from '../../crypto/index.ts';
import { instanceProblem, type Instance } from '../../../proto/index.ts';
import { DEVICE_ID_PATTERN } from '../../provisioning/index.ts';
import { cleanDetail, type MemoryPolicyRules, type UpdateTarget } from '../policy.ts';
import { parsePolicyDocument, policyDocumentJson, updateTargetJson } from '../policy-doc.ts';
import type { OperatorReason } from '../reasons.ts';
import type { DeviceState } from '../registry.ts';
import { dominates, hubName } from '../role.ts';
import { HubStoreError } from '../sqlite/errors.ts';
import type { EnrollKey, EnrollOptions, HubIdentity, StateChange } from '../sqlite/index.ts';
import { notifyChange, type ConfigChange } from './config-channel.ts';
import { inTransaction, type PgPool, type PgQueryable } from './connect.ts';

export async function readPgHubIdentity(db: PgQueryable): Promise<HubIdentity | undefined> {
  const r = await db.query<{ key: string; value: string }>("SELECT key, value FROM meta WHERE key IN ('hub_id', 'role', 'service')");
  const meta = new Map(r.rows.map((row) => [row.key, row.value]));
  const hubId = meta.get('hub_id');
  const role = meta.get('role');
  const service = meta.get('service');
  if (hubId === undefined || (role !== 'ih' && role !== 'sh') || (role === 'sh' && service === undefined)) return undefined;
  return { hubId, role: role === 'ih' ? { kind: 'ih' } : { kind: 'sh', service: service! } };
}

/** Binds the database to one hub the first time; refuses another hub after that. */
export async function claimPgHubIdentity(pool: PgPool, identity: HubIdentity): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('LOCK TABLE meta IN SHARE ROW EXCLUSIVE MODE');
    const current = await readPgHubIdentity(c);
    if (current === undefined) {
      const put = 'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value';
      await c.query(put, ['hub_id', identity.hubId]);
      await c.query(put, ['role', identity.role.kind]);
      if (identity.role.kind === 'sh') await c.query(put, ['service', identity.role.service]);
    } else if (hubName(current) !== hubName(identity)) {
      throw new HubStoreError('wrong-hub', `this database belongs to hub ${hubName(current)}, not ${hubName(identity)}`);
    }
  });
}

/** Registers (or rotates) keys of one device; only instances this hub dominates. */
export async function pgEnrollKeys(pool: PgPool, deviceId: string, keys: readonly EnrollKey[], options: EnrollOptions = {}): Promise<void> {
  if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId))
    throw new HubStoreError('refused', 'device id must be 1-64 characters of [A-Za-z0-9._-]');
  if (keys.length === 0) throw new HubStoreError('refused', `no keys to enrol for ${deviceId}`);
  const backend: CryptoBackend = options.backend ?? cryptoBackend('node');
  const nowMs = options.nowMs ?? Date.now();
  const prepared = keys.map((k) => {
    const problem = instanceProblem(k.instance);
    if (problem !== undefined)
      throw new HubStoreError('refused', `instance ${JSON.stringify(String(k.instance).slice(0, 40))}: ${problem}`);
    try {
      return { instance: k.instance, publicKey: Buffer.from(k.publicKey), keyId: Buffer.from(backend.verifier(k.publicKey).keyId) };
    } catch (err) {
      throw new HubStoreError(
        'refused',
        `public key for ${k.instance}: ${err instanceof Error ? err.message : 'not an Ed25519 public key'}`,
      );
    }
  });
  await inTransaction(pool, async (c) => {
    const identity = await readPgHubIdentity(c);
    for (const k of prepared) {
      if (identity !== undefined && !dominates(identity.role, k.instance))
        throw new HubStoreError('refused', `hub ${hubName(identity)} does not dominate ${k.instance}: enrol that key with its own hub`);
      const holder = await c.query<{ device_id: string; instance: string }>(
        'SELECT device_id, instance FROM device_key WHERE key_id = $1',
        [k.keyId],
      );
      const h = holder.rows[0];
      if (h !== undefined && (h.device_id !== deviceId || h.instance !== k.instance))
        throw new HubStoreError('refused', `key ${hex(k.keyId)} is already enrolled for ${h.device_id}/${h.instance}`);
    }
    const existing = (await c.query<{ state: DeviceState }>('SELECT state FROM device WHERE device_id = $1 FOR UPDATE', [deviceId])).rows[0]
      ?.state;
    if (existing === 'revoked' && options.reinstate !== true)
      throw new HubStoreError('refused', `device ${deviceId} is revoked; enrol it again with new keys and --reinstate`);
    if (existing === undefined)
      await c.query("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES ($1, 'active', $2, $2)", [
        deviceId,
        nowMs,
      ]);
    else if (existing === 'revoked')
      await c.query("UPDATE device SET state = 'active', state_reason = NULL, updated_at_ms = $1 WHERE device_id = $2", [nowMs, deviceId]);
    for (const k of prepared)
      await c.query(
        `INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (device_id, instance) DO UPDATE SET public_key = excluded.public_key, key_id = excluded.key_id, enrolled_at_ms = excluded.enrolled_at_ms`,
        [deviceId, k.instance, k.publicKey, k.keyId, nowMs],
      );
    const verb = existing === undefined ? 'enrolled' : existing === 'revoked' ? 'reinstated' : 're-enrolled';
    const one = prepared.length === 1 ? prepared[0]!.instance : null;
    await auditOperator(c, nowMs, verb, deviceId, one, `keys for ${prepared.map((k) => k.instance).join(', ')}`, { device: deviceId });
  });
}

/** Quarantine, release or revoke a device; a revoked device stays revoked until enrolled again. */
export async function pgChangeDeviceState(
  pool: PgPool,
  deviceId: string,
  change: StateChange,
  reason?: string,
  nowMs = Date.now(),
): Promise<DeviceState> {
  const next: DeviceState = change === 'quarantine' ? 'quarantined' : change === 'release' ? 'active' : 'revoked';
  await inTransaction(pool, async (c) => {
    const current = await requireDevice(c, deviceId);
    if (current === 'revoked' && change !== 'revoke')
      throw new HubStoreError(
        'refused',
        `device ${deviceId} is revoked; it gets no tickets until enrolled again with new keys (--reinstate)`,
      );
    const text = reason === undefined ? null : cleanDetail(reason);
    await c.query('UPDATE device SET state = $1, state_reason = $2, updated_at_ms = $3 WHERE device_id = $4', [
      next,
      text,
      nowMs,
      deviceId,
    ]);
    if (next === 'revoked') await c.query('DELETE FROM broker_credential WHERE username = $1', [deviceId]);
    await auditOperator(c, nowMs, change, deviceId, null, text ?? `${current} -> ${next}`, { device: deviceId });
  });
  return next;
}

/** Withholds tickets from one instance, or (instance undefined) from every instance of the device. */
export async function pgWithholdInstance(
  pool: PgPool,
  deviceId: string,
  instance: Instance | undefined,
  reason: string,
  nowMs = Date.now(),
): Promise<void> {
  await inTransaction(pool, async (c) => {
    await requireDevice(c, deviceId);
    await putHold(c, deviceId, instance ?? '*', 'withhold', cleanDetail(reason), nowMs);
    await auditOperator(c, nowMs, 'withhold', deviceId, instance ?? null, cleanDetail(reason), { device: deviceId });
  });
}

/** Lifts a withhold; without an instance, every withhold on the device. Returns how many. */
export async function pgResumeInstance(
  pool: PgPool,
  deviceId: string,
  instance: Instance | undefined,
  nowMs = Date.now(),
): Promise<number> {
  return inTransaction(pool, async (c) => {
    await requireDevice(c, deviceId);
    const lifted = await deleteHolds(c, deviceId, instance, 'withhold');
    await auditOperator(c, nowMs, 'resume', deviceId, instance ?? null, `${lifted} withhold(s) lifted`, { device: deviceId });
    return lifted;
  });
}

/** Demands that `instance` runs `target` before it gets tickets again (met once it reports it). */
export async function pgRequireInstanceUpdate(
  pool: PgPool,
  deviceId: string,
  instance: Instance,
  target: UpdateTarget,
  nowMs = Date.now(),
): Promise<void> {
  await inTransaction(pool, async (c) => {
    await requireDevice(c, deviceId);
    await putHold(c, deviceId, instance, 'update', JSON.stringify(updateTargetJson(target)), nowMs);
    const named = target.version === String(target.releaseVersion) ? '' : ` (${target.version})`;
    const detail = `${instance} must run release ${target.releaseVersion}${named}`;
    await auditOperator(c, nowMs, 'require-update', deviceId, instance, detail, { device: deviceId });
  });
}

/** Drops the demand of `instance` (undefined: every instance's). Returns how many. */
export async function pgClearInstanceUpdate(
  pool: PgPool,
  deviceId: string,
  instance: Instance | undefined,
  nowMs = Date.now(),
): Promise<number> {
  return inTransaction(pool, async (c) => {
    await requireDevice(c, deviceId);
    const cleared = await deleteHolds(c, deviceId, instance, 'update');
    await auditOperator(c, nowMs, 'clear-update', deviceId, instance ?? null, `${cleared} required update(s) cleared`, {
      device: deviceId,
    });
    return cleared;
  });
}

/** Sets (rules) or clears (undefined) the fleet default policy. */
export async function pgSetFleetPolicy(pool: PgPool, rules: MemoryPolicyRules | undefined, nowMs = Date.now()): Promise<void> {
  const text = rules === undefined ? undefined : policyDocumentJson(parsePolicyDocument(JSON.parse(policyDocumentJson(rules))));
  await inTransaction(pool, async (c) => {
    if (text === undefined) await c.query('DELETE FROM fleet_policy');
    else
      await c.query(
        `INSERT INTO fleet_policy (id, policy, version) VALUES (1, $1, 1)
         ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, version = fleet_policy.version + 1`,
        [text],
      );
    await auditOperator(c, nowMs, 'policy', null, null, text === undefined ? 'fleet policy cleared' : 'fleet policy set', { fleet: true });
  });
}

/** Sets (rules) or clears (undefined) one device's own policy. */
export async function pgSetDevicePolicy(
  pool: PgPool,
  deviceId: string,
  rules: MemoryPolicyRules | undefined,
  nowMs = Date.now(),
): Promise<void> {
  const text = rules === undefined ? null : policyDocumentJson(parsePolicyDocument(JSON.parse(policyDocumentJson(rules))));
  await inTransaction(pool, async (c) => {
    await requireDevice(c, deviceId);
    await c.query('UPDATE device SET policy = $1, updated_at_ms = $2 WHERE device_id = $3', [text, nowMs, deviceId]);
    await auditOperator(c, nowMs, 'policy', deviceId, null, text === null ? 'device policy cleared' : 'device policy set', {
      device: deviceId,
    });
  });
}

export async function pgFleetPolicyText(db: PgQueryable): Promise<string | undefined> {
  return (await db.query<{ policy: string }>('SELECT policy FROM fleet_policy WHERE id = 1')).rows[0]?.policy;
}

export async function pgDevicePolicyText(db: PgQueryable, deviceId: string): Promise<string | undefined> {
  await requireDevice(db, deviceId);
  return (
    (await db.query<{ policy: string | null }>('SELECT policy FROM device WHERE device_id = $1', [deviceId])).rows[0]?.policy ?? undefined
  );
}

/** Sets (or replaces) the device's hold of `kind` on `instance` (`*`: every instance). */
async function putHold(
  c: PgQueryable,
  deviceId: string,
  instance: string,
  kind: 'withhold' | 'update',
  detail: string,
  nowMs: number,
): Promise<void> {
  await c.query(
    `INSERT INTO operator_hold (device_id, instance, kind, detail, at_ms) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (device_id, instance, kind) DO UPDATE SET detail = excluded.detail, at_ms = excluded.at_ms`,
    [deviceId, instance, kind, detail, nowMs],
  );
}

/** Deletes the device's holds of `kind` on `instance` (undefined: on every instance); returns how many. */
async function deleteHolds(c: PgQueryable, deviceId: string, instance: Instance | undefined, kind: 'withhold' | 'update'): Promise<number> {
  const del =
    instance === undefined
      ? await c.query('DELETE FROM operator_hold WHERE device_id = $1 AND kind = $2', [deviceId, kind])
      : await c.query('DELETE FROM operator_hold WHERE device_id = $1 AND instance = $2 AND kind = $3', [deviceId, instance, kind]);
  return del.rowCount ?? 0;
}

async function requireDevice(c: PgQueryable, deviceId: string): Promise<DeviceState> {
  const state = (await c.query<{ state: DeviceState }>('SELECT state FROM device WHERE device_id = $1 FOR UPDATE', [deviceId])).rows[0]
    ?.state;
  if (state === undefined)
    throw new HubStoreError('refused', `device ${JSON.stringify(String(deviceId).slice(0, 64))} is not enrolled with this hub`);
  return state;
}

/** The change's audit row and its NOTIFY, inside the change's transaction (delivered at commit). */
export async function auditOperator(
  c: PgQueryable,
  nowMs: number,
  reason: OperatorReason,
  deviceId: string | null,
  instance: string | null,
  detail: string | null,
  change: ConfigChange,
): Promise<void> {
  await c.query(
    "INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance) VALUES ($1, NULL, 'operator', $2, $3, $4, $5)",
    [nowMs, reason, detail, deviceId, instance],
  );
  await notifyChange(c, change);
}
