/**
 * Enrols the simulated fleet with the hub's store in one transaction, with a fleet policy granting
 * the chosen deferral. The store-specific part is one function per kind of store, picked from the
 * `--db` argument, so another store (e.g. PostgreSQL) is one more function here.
 */
import { nobleBackend } from '../../actors/crypto/index.ts';
import { IH_ROLE } from '../../actors/hub/index.ts';
import { enrollKeys, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { fleetDeviceId, type FleetKeys } from './fleet-keys.ts';

export interface FleetEnrolment {
  readonly hubId: string;
  readonly deferralMs: number;
  readonly keys: FleetKeys;
}

/** Enrols the fleet with one store; `db` is what the hub gets as `--db`. */
export type FleetEnroller = (db: string, enrolment: FleetEnrolment) => void;

/** The enroller for `db`: a file path is SQLite (the only store this bench drives today). */
export function fleetEnroller(db: string): FleetEnroller {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(db))
    throw new Error(`fleet-sim: --db ${db.split(':')[0]}:// is not supported yet (SQLite file paths only)`);
  return enrollSqlite;
}

/**
 * SQLite: the project's own enrolKeys per device, all inside one outer transaction (one fsync). The
 * noble backend only computes key ids here (its verifier parses nothing up front), where node's would
 * import every key into OpenSSL for nothing.
 */
function enrollSqlite(path: string, e: FleetEnrolment): void {
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId: e.hubId, role: IH_ROLE } });
  try {
    setFleetPolicy(store.db, { default: { deferralMs: e.deferralMs } });
    const backend = nobleBackend();
    const nowMs = Date.now();
    store.db.transaction(() => {
      for (let i = 0; i < e.keys.devices; i++)
        enrollKeys(store.db, fleetDeviceId(i), [{ instance: 'device', publicKey: e.keys.publicKey(i) }], { backend, nowMs });
    })();
  } finally {
    store.close();
  }
}
