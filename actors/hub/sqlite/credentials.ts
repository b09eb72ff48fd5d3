/**
 * Broker credentials in a hub database (docs/ARCHITECTURE.md §7.1): the hub's own account
 * (`hub@<hubId>`) and, in the IH's database, one per device (its device id). Only Mosquitto `$7$`
 * hashes are stored; `dominion broker-sync` reads them (`brokerUsers`) and writes the broker's
 * password_file and acl_file. A revoked device's row is deleted with the revocation (admin.ts).
 */
import { hubUsername, isPasswordHash, type BrokerUser } from '../../broker-auth/index.ts';
import { DEVICE_ID_PATTERN } from '../../provisioning/index.ts';
import { readHubIdentity, type HubIdentity } from './admin.ts';
import type { SqliteDatabase } from './database.ts';
import { HubStoreError } from './errors.ts';

/** Stores (or replaces) one account's hash. Throws HubStoreError for a bad username or hash. */
export function setBrokerCredential(db: SqliteDatabase, username: string, passwordHash: string, nowMs = Date.now()): void {
  if (!isPasswordHash(passwordHash)) throw new HubStoreError('refused', `broker credential for ${username}: not a $7$ password hash`);
  db.prepare(
    'INSERT INTO broker_credential (username, password_hash, updated_at_ms) VALUES (?, ?, ?) ' +
      'ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, updated_at_ms = excluded.updated_at_ms',
  ).run(username, passwordHash, nowMs);
}

export function brokerCredentialHash(db: SqliteDatabase, username: string): string | undefined {
  return db.prepare('SELECT password_hash FROM broker_credential WHERE username = ?').pluck().get(username) as string | undefined;
}

/** Stores the hub's own account: the database must belong to `hubId`. */
export function setHubBrokerCredential(db: SqliteDatabase, hubId: string, passwordHash: string, nowMs = Date.now()): void {
  const identity = readHubIdentity(db);
  if (identity !== undefined && identity.hubId !== hubId)
    throw new HubStoreError('wrong-hub', `${db.name}: this database belongs to hub ${identity.hubId}, not ${hubId}`);
  setBrokerCredential(db, hubUsername(hubId), passwordHash, nowMs);
}

/** Stores a device's account (IH databases only: the IH owns the device's identity). */
export function setDeviceBrokerCredential(db: SqliteDatabase, deviceId: string, passwordHash: string, nowMs = Date.now()): void {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new HubStoreError('refused', 'device id must be 1-64 characters of [A-Za-z0-9._-]');
  const identity = readHubIdentity(db);
  if (identity?.role.kind !== 'ih')
    throw new HubStoreError('refused', `${db.name}: device broker credentials are kept by the infrastructure hub's database`);
  setBrokerCredential(db, deviceId, passwordHash, nowMs);
}

export interface BrokerAccounts {
  readonly hub: HubIdentity;
  /** The hub's own account, when one was stored; and (IH) its devices that are not revoked. */
  readonly users: readonly BrokerUser[];
}

/**
 * The accounts this database contributes to the broker. A device counts only in an IH database and
 * only while it is enrolled and not revoked; a row for any other name is ignored.
 */
export function brokerUsers(db: SqliteDatabase): BrokerAccounts {
  const hub = readHubIdentity(db);
  if (hub === undefined)
    throw new HubStoreError('refused', `${db.name}: no hub has claimed this database yet (enrol a device or start its hub)`);
  const rows = db
    .prepare(
      `SELECT c.username, c.password_hash, d.state FROM broker_credential c
       LEFT JOIN device d ON d.device_id = c.username ORDER BY c.username`,
    )
    .all() as CredentialRow[];
  return brokerAccountsOf(hub, rows);
}

/** A stored credential, with the state of the device it names (null: it names no device). */
export interface CredentialRow {
  username: string;
  password_hash: string;
  state: string | null;
}

/** The accounts a hub's credentials give (either store): its own, and (IH) its devices not revoked. */
export function brokerAccountsOf(hub: HubIdentity, rows: readonly CredentialRow[]): BrokerAccounts {
  const own = hubUsername(hub.hubId);
  const users: BrokerUser[] = [];
  for (const r of rows) {
    if (r.username === own) users.push({ principal: { kind: 'hub', hubId: hub.hubId, role: hub.role }, passwordHash: r.password_hash });
    else if (hub.role.kind === 'ih' && r.state !== null && r.state !== 'revoked' && DEVICE_ID_PATTERN.test(r.username))
      users.push({ principal: { kind: 'device', deviceId: r.username }, passwordHash: r.password_hash });
  }
  return { hub, users };
}
