/**
 * Enrols the simulated fleet with the hub's store in bulk, with a fleet policy granting
 * the chosen deferral, in a SQLite file; a PostgreSQL run copies that file into a fresh database
 * (enrol-pg.ts), so both stores start from the same rows.
 */
import { keyIdOf, nobleBackend } from '../../actors/crypto/index.ts';
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

/** The enroller for `db`: a file path (SQLite); PostgreSQL goes through enrol-pg.ts. */
export function fleetEnroller(db: string): FleetEnroller {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(db))
    throw new Error(`fleet-sim: --db ${db.split(':')[0]}:// is not supported yet (SQLite file paths only)`);
  return enrollSqlite;
}

/**
 * SQLite. The first device goes through the project's own enrollKeys (identity, dominance and key
 * checks, the config bump and an operator audit entry); the rest are the same two rows per device
 * (device, device_key) inserted by two prepared statements in one transaction: enrollKeys per device
 * prepares its statements and opens a savepoint each time, which at 100,000 devices took minutes.
 */
function enrollSqlite(path: string, e: FleetEnrolment): void {
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId: e.hubId, role: IH_ROLE } });
  try {
    setFleetPolicy(store.db, { default: { deferralMs: e.deferralMs } });
    const backend = nobleBackend();
    const nowMs = Date.now();
    enrollKeys(store.db, fleetDeviceId(0), [{ instance: 'device', publicKey: e.keys.publicKey(0) }], { backend, nowMs });
    const device = store.db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES (?, 'active', ?, ?)");
    const key = store.db.prepare(
      "INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES (?, 'device', ?, ?, ?)",
    );
    store.db.transaction(() => {
      for (let i = 1; i < e.keys.devices; i++) {
        const id = fleetDeviceId(i);
        const publicKey = e.keys.publicKey(i);
        device.run(id, nowMs, nowMs);
        key.run(id, publicKey, keyIdOf(backend, publicKey), nowMs);
      }
    })();
  } finally {
    store.close();
  }
}
