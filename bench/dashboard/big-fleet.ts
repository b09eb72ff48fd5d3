/**
 * An IH database with N enrolled devices that never asked (state NEVER), for the dashboard's
 * first-page figure: the rows `dominion enroll` writes (device, device_key), inserted in one
 * transaction as bench/fleet/enrol.ts does (enrollKeys per device takes minutes at 100,000).
 */
import { randomBytes } from 'node:crypto';
import { keyIdOf, nobleBackend } from '../../actors/crypto/index.ts';
import { IH_ROLE } from '../../actors/hub/index.ts';
import { SqliteHubStore } from '../../actors/hub/sqlite/index.ts';

/** `dev-000042`: ids sort as numbers do, so the first page is dev-000000…dev-000049. */
export const bigFleetId = (i: number): string => `dev-${String(i).padStart(6, '0')}`;

export function enrolBigFleet(path: string, devices: number, hubId = 'ih-1'): void {
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId, role: IH_ROLE } });
  try {
    const backend = nobleBackend();
    const nowMs = Date.now();
    const device = store.db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES (?, 'active', ?, ?)");
    const key = store.db.prepare(
      "INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES (?, 'device', ?, ?, ?)",
    );
    store.db.transaction(() => {
      for (let i = 0; i < devices; i++) {
        const id = bigFleetId(i);
        const publicKey = randomBytes(32);
        device.run(id, nowMs, nowMs);
        key.run(id, publicKey, keyIdOf(backend, publicKey), nowMs);
      }
    })();
  } finally {
    store.close();
  }
}
