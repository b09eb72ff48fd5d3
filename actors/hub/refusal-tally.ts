/**
 * Refused requests per device, as a batch's audit rows say (`dominion devices`' refused column):
 * the tally both stores add to their `device_refusal` rows in the batch's transaction
 * (sqlite/refusals.ts, postgres/refusals.ts), so the count and the audit log never disagree.
 */
import type { AuditEntry } from './audit.ts';

export interface RefusalTally {
  count: number;
  lastAtMs: number;
  lastReason: string;
}

/** The refused entries among `entries`, per device they name: how many, and the latest one's time and reason. */
export function tallyRefusals(entries: Iterable<AuditEntry>): Map<string, RefusalTally> {
  const byDevice = new Map<string, RefusalTally>();
  for (const e of entries) {
    if (e.outcome !== 'refused' || e.deviceId === undefined) continue;
    const t = byDevice.get(e.deviceId);
    if (t === undefined) byDevice.set(e.deviceId, { count: 1, lastAtMs: e.atMs, lastReason: e.reason });
    else {
      t.count++;
      if (e.atMs >= t.lastAtMs) {
        t.lastAtMs = e.atMs;
        t.lastReason = e.reason;
      }
    }
  }
  return byDevice;
}
