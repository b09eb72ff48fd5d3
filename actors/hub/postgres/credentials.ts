/**
 * Broker credentials in a PostgreSQL hub database (the counterpart of sqlite/credentials.ts): the
 * hub's own account and, in the IH's database, one per device. Only Mosquitto `$7$` hashes.
 * (`dominion broker-sync` reads SQLite databases only so far: docs/ARCHITECTURE.md §7.5.)
 */
import { hubUsername, isPasswordHash } from '../../broker-auth/index.ts';
import { DEVICE_ID_PATTERN } from '../../provisioning/index.ts';
import { HubStoreError } from '../sqlite/errors.ts';
import { brokerAccountsOf, type BrokerAccounts, type CredentialRow } from '../sqlite/credentials.ts';
import { readPgHubIdentity } from './admin.ts';
import type { PgQueryable } from './connect.ts';

async function setPgBrokerCredential(db: PgQueryable, username: string, passwordHash: string, nowMs: number): Promise<void> {
  if (!isPasswordHash(passwordHash)) throw new HubStoreError('refused', `broker credential for ${username}: not a $7$ password hash`);
  await db.query(
    `INSERT INTO broker_credential (username, password_hash, updated_at_ms) VALUES ($1, $2, $3)
     ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, updated_at_ms = excluded.updated_at_ms`,
    [username, passwordHash, nowMs],
  );
}

/** Stores the hub's own account: the database must belong to `hubId`. */
export async function pgSetHubBrokerCredential(db: PgQueryable, hubId: string, passwordHash: string, nowMs = Date.now()): Promise<void> {
  const identity = await readPgHubIdentity(db);
  if (identity !== undefined && identity.hubId !== hubId)
    throw new HubStoreError('wrong-hub', `this database belongs to hub ${identity.hubId}, not ${hubId}`);
  await setPgBrokerCredential(db, hubUsername(hubId), passwordHash, nowMs);
}

/** Stores a device's account (IH databases only: the IH owns the device's identity). */
export async function pgSetDeviceBrokerCredential(
  db: PgQueryable,
  deviceId: string,
  passwordHash: string,
  nowMs = Date.now(),
): Promise<void> {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new HubStoreError('refused', 'device id must be 1-64 characters of [A-Za-z0-9._-]');
  const identity = await readPgHubIdentity(db);
  if (identity?.role.kind !== 'ih')
    throw new HubStoreError('refused', "device broker credentials are kept by the infrastructure hub's database");
  await setPgBrokerCredential(db, deviceId, passwordHash, nowMs);
}

/** The broker accounts this hub's database gives (the counterpart of sqlite/credentials.ts's brokerUsers). */
export async function pgBrokerUsers(db: PgQueryable, where: string): Promise<BrokerAccounts> {
  const hub = await readPgHubIdentity(db);
  if (hub === undefined)
    throw new HubStoreError('refused', `${where}: no hub has claimed this database yet (enrol a device or start its hub)`);
  const r = await db.query<CredentialRow>(
    `SELECT c.username, c.password_hash, d.state FROM broker_credential c
     LEFT JOIN device d ON d.device_id = c.username ORDER BY c.username COLLATE "C"`,
  );
  return brokerAccountsOf(hub, r.rows);
}
