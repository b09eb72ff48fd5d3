/**
 * An IH database with N enrolled devices, for the dashboard's figures: the rows `dominion enroll`
 * writes (device, device_key), inserted in one transaction as bench/fleet/enrol.ts does (enrollKeys
 * per device takes minutes at 100,000). Without `active`, every device never asked (NEVER); with it,
 * each has a device and an mm instance whose activity rows a hub would have written: one device in
 * ten never asked, one in seven withheld, the rest holding tickets whose 30 s deadlines pass over
 * the next half minute (so the dashboard also sees deadlines flip to TIMEOUT by themselves).
 */
import { randomBytes } from 'node:crypto';
import { keyIdOf, nobleBackend } from '../../actors/crypto/index.ts';
import { IH_ROLE } from '../../actors/hub/index.ts';
import { setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';

/** `dev-000042`: ids sort as numbers do, so the first page is dev-000000…dev-000049. */
export const bigFleetId = (i: number): string => `dev-${String(i).padStart(6, '0')}`;

export function enrolBigFleet(path: string, devices: number, hubId = 'ih-1', o: { active?: boolean } = {}): void {
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId, role: IH_ROLE } });
  try {
    const backend = nobleBackend();
    const nowMs = Date.now();
    const db = store.db;
    if (o.active) setFleetPolicy(db, { default: { deferralMs: 30_000 } });
    const device = db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES (?, 'active', ?, ?)");
    const key = db.prepare('INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES (?, ?, ?, ?, ?)');
    const activity = db.prepare(
      `INSERT INTO instance_activity (device_id, instance, last_request_at_ms, last_outcome, last_reason, state, last_ticket_at_ms,
         last_deferral_ms, deadline_ms, expired) VALUES (?, ?, ?, ?, ?, ?, ?, 30000, ?, 0)`,
    );
    db.transaction(() => {
      for (let i = 0; i < devices; i++) {
        const id = bigFleetId(i);
        device.run(id, nowMs, nowMs);
        for (const instance of o.active ? ['device', 'mm'] : ['device']) {
          const publicKey = randomBytes(32);
          key.run(id, instance, publicKey, keyIdOf(backend, publicKey), nowMs);
          if (!o.active || i % 10 === 0) continue; // never asked
          const at = nowMs - Math.floor(Math.random() * 20_000);
          const ok = i % 7 !== 0;
          const outcome = ok ? ['ticket', 'granted', 'ok'] : ['withheld', 'policy-failed', 'withheld'];
          activity.run(id, instance, at, ...outcome, ok ? at : null, ok ? at + 30_000 : null);
        }
      }
    })();
  } finally {
    store.close();
  }
}
